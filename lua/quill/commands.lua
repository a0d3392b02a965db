-- Implementations of the user commands in plugin/quill.lua.
local M = {}

local levels = vim.log.levels

local function describe(backend)
  local info = backend.info()
  local server = info.server_info or {}
  local caps = info.capabilities or {}
  return table.concat({
    string.format('quill: %s %s running (pid %s, restarts %d)', tostring(server.name), tostring(server.version),
      tostring(info.pid), info.restarts),
    'binary:  ' .. info.cmd,
    'log:     ' .. info.log_file,
    'methods: ' .. table.concat(type(caps.methods) == 'table' and caps.methods or {}, ', '),
  }, '\n')
end

-- :QuillInfo. Starting (if needed) includes the initialize round trip, so the
-- report reflects a backend that has answered.
function M.info()
  local backend = require('quill.backend')
  backend.start(function(err)
    if err then
      vim.notify(err.message, levels.ERROR)
    else
      vim.notify(describe(backend), levels.INFO)
    end
  end)
end

-- :QuillRestart
function M.restart()
  local backend = require('quill.backend')
  backend.stop()
  backend.start(function(err)
    if err then
      vim.notify(err.message, levels.ERROR)
    else
      vim.notify(string.format('quill: backend restarted (pid %s)', tostring(backend.info().pid)), levels.INFO)
    end
  end)
end

-- :QuillLog
function M.log()
  local path = require('quill.backend').log_file()
  vim.cmd('split ' .. vim.fn.fnameescape(path))
  -- the newest lines are what one looks for; reloaded when the backend writes more
  vim.bo.autoread = true
  vim.cmd('normal! G')
end

-- :[range]QuillInsert [instruction]; asks for the instruction when there is none.
function M.insert(instruction, range)
  local inline = require('quill.inline')
  if instruction and vim.trim(instruction) ~= '' then
    return inline.insert(instruction, { range = range })
  end
  local buf, win = vim.api.nvim_get_current_buf(), vim.api.nvim_get_current_win()
  local cursor = vim.api.nvim_win_get_cursor(win)
  vim.ui.input({ prompt = range and 'quill: rewrite the lines: ' or 'quill: insert: ' }, function(text)
    if not text or vim.trim(text) == '' then
      return
    end
    -- the input UI may have moved focus; insert where the command was given
    if vim.api.nvim_win_is_valid(win) and vim.api.nvim_win_get_buf(win) == buf then
      vim.api.nvim_set_current_win(win)
      vim.api.nvim_win_set_cursor(win, cursor)
      inline.insert(text, { range = range })
    end
  end)
end

local model_names = {} -- from the last models/list, for completion

local function set_model(name)
  require('quill.config').get().model = name
  vim.notify('quill: model ' .. name, levels.INFO)
end

-- :QuillModel [name]: set the model, or pick one of those the provider has.
function M.model(name)
  if name and vim.trim(name) ~= '' then
    set_model(vim.trim(name))
    return
  end
  local backend = require('quill.backend')
  backend.request('models/list', {}, function(err, result)
    if err then
      vim.notify('quill: cannot list models: ' .. tostring(err.message):gsub('^quill: ', ''), levels.ERROR)
      return
    end
    local names = {}
    for _, m in ipairs(type(result) == 'table' and result.models or {}) do
      table.insert(names, m.name)
    end
    model_names = names
    if #names == 0 then
      vim.notify('quill: the provider has no models: run `ollama pull <model>`', levels.WARN)
      return
    end
    local current = require('quill.config').get().model
    vim.ui.select(names, {
      prompt = 'quill model',
      format_item = function(n)
        return n == current and (n .. ' (current)') or n
      end,
    }, function(choice)
      if choice then
        set_model(choice)
      end
    end)
  end)
end

-- Completion for :QuillModel: names from the last listing (refreshed in the
-- background, so the next completion sees the current ones).
function M.complete_models(lead)
  local backend = require('quill.backend')
  backend.request('models/list', {}, function(err, result)
    if not err and type(result) == 'table' and type(result.models) == 'table' then
      local names = {}
      for _, m in ipairs(result.models) do
        table.insert(names, m.name)
      end
      model_names = names
    end
  end)
  return vim.tbl_filter(function(n)
    return n:sub(1, #lead) == lead
  end, model_names)
end

return M
