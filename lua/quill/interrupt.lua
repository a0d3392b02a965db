-- A <C-c> typed while Neovim is busy (a render, a message from the backend) is
-- an interrupt, not a key: it skips every mapping (Neovim 0.7 even looks at
-- the mappings of whatever buffer code made current for that moment). vim.on_key
-- still sees it as a bare "\3"; a mapped <C-c> arrives as the mapping's Lua key
-- instead. Modules that map <C-c> register a handler here to get the bare ones
-- too; one listener exists while any handler does.
local M = {}

local api = vim.api
local ns = api.nvim_create_namespace('quill_interrupt')
local handlers = {} -- name -> fn(mode): runs scheduled; `mode` is the one the key came in
local listening = false

local function on_key(key)
  if key ~= '\3' then
    return
  end
  local mode = api.nvim_get_mode().mode
  vim.schedule(function()
    local now = {}
    for _, fn in pairs(handlers) do
      table.insert(now, fn)
    end
    for _, fn in ipairs(now) do
      fn(mode)
    end
  end)
end

local function listen()
  local want = next(handlers) ~= nil
  if want ~= listening then
    listening = want
    vim.on_key(want and on_key or nil, ns)
  end
end

-- Call fn(mode) after each bare <C-c>, until M.unwatch(name).
function M.watch(name, fn)
  handlers[name] = fn
  listen()
end

function M.unwatch(name)
  handlers[name] = nil
  listen()
end

return M
