-- quill: chat with local models from Neovim. Works without setup().
local M = {}

M.version = require('quill.version')

-- Only merges and validates options; the backend starts lazily on first use.
function M.setup(opts)
  require('quill.config').setup(opts)
end

-- Snapshot for statuslines and tests. Does not start the backend.
function M.status()
  local backend = require('quill.backend')
  local info = backend.info()
  return {
    -- true while any request to the backend waits for its answer
    busy = backend.pending_count() > 0,
    backend = {
      running = info.running,
      pid = info.pid,
      restarts = info.restarts,
      version = info.server_info and info.server_info.version or nil,
    },
  }
end

return M
