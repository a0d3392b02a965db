-- A child Neovim for tool specs: quill.tools with the backend played by fake_transport.lua.
-- editor/* requests arrive as the backend would send them and go through the editor's real
-- client and dispatch; its answers are what it writes back. The workspace is a fresh temp dir
-- per test.
local h = require('harness')

local M = {}

-- A child whose workspace root is a new temp dir (returned, symlinks resolved).
function M.setup(tools_opts)
  local root = h.temp_dir()
  local child = h.new_child()
  child.lua([[
    local root, tools_opts, dir = ...
    package.path = dir .. '/?.lua;' .. package.path
    require('quill').setup({ workspace_root = root, tools = tools_opts })
    require('quill.review').grace_ms = 0
    local fake = require('fake_transport')
    require('quill.backend').use_transport(fake)
    require('quill.backend').start()
    require('quill.tools').register()
    _G.replies = fake.replies
    _G.next_id = 0
    -- send a backend->editor request; returns its id
    _G.req = function(method, params)
      _G.next_id = _G.next_id + 1
      params.chatId = params.chatId or 'chat-1'
      fake.send({ jsonrpc = '2.0', id = _G.next_id, method = method, params = params })
      return _G.next_id
    end
    -- request and return its answer (nil while it waits)
    _G.call = function(method, params)
      local id = _G.req(method, params)
      return _G.replies[id]
    end
    _G.cancel = function(id)
      fake.send({ jsonrpc = '2.0', method = '$/cancelRequest', params = { id = id } })
    end
    _G.lines = function()
      return vim.api.nvim_buf_get_lines(0, 0, -1, false)
    end
    _G.blines = function(buf)
      return vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    end
    _G.bufof = function(path)
      return require('quill.tools')._find_buffer(path)
    end
    -- the lines of the review prompt waiting for an answer (nil when none)
    _G.prompt_lines = function()
      local p = require('quill.review').current_prompt()
      return p and p.buf and vim.api.nvim_buf_get_lines(p.buf, 0, -1, false)
    end
    _G.float_count = function()
      local n = 0
      for _, w in ipairs(vim.api.nvim_list_wins()) do
        if vim.api.nvim_win_get_config(w).relative ~= '' then n = n + 1 end
      end
      return n
    end
  ]], { root, tools_opts or vim.empty_dict(), h.dir })
  return child, root
end

-- Send a request and wait for its answer (reads and listings answer asynchronously).
function M.call(child, method, params)
  local id = child.lua('return req(...)', { method, params })
  child.wait(('replies[%d] ~= nil'):format(id), 10000)
  return child.lua('return replies[...]', { id })
end

-- Send a request that asks the user (an edit checks the path with git first) and wait
-- until its review shows or it is answered; returns its id.
function M.ask(child, method, params)
  local id = child.lua('return req(...)', { method, params })
  child.wait(('prompt_lines() ~= nil or replies[%d] ~= nil'):format(id), 10000)
  return id
end

-- Answer the waiting review prompt with `key`, as a user does: enter it, press the key.
function M.answer(child, key)
  child.lua([[require('quill.review').jump()]])
  child.type(key)
end

return M
