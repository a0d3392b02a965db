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
end

return M
