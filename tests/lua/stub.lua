-- Child Neovim with quill's backend replaced by a recorder, for the chat and
-- inline specs: requests land in _G.reqs (answered by hand with answer()),
-- cancels in _G.cancels, and tokens go through the real notification
-- dispatch (backend._handle_message), as the backend would send them.
local h = require('harness')

local M = {}

function M.child(opts)
  local child = h.new_child(opts)
  child.lua([[
    _G.notes = {}
    vim.notify = function(msg, level)
      table.insert(_G.notes, { msg = msg, level = level })
    end
    local b = require('quill.backend')
    _G.reqs = {}
    _G.cancels = {}
    b.request = function(method, params, cb, opts)
      table.insert(_G.reqs, { method = method, params = params, cb = cb })
      return #_G.reqs
    end
    -- start answers at once; _G.init_result.capabilities.tools turns tool rounds on
    b.start = function(cb)
      if cb then cb(_G.init_error, _G.init_result or { capabilities = {} }) end
      return true
    end
    b.cancel = function(id)
      table.insert(_G.cancels, id)
      return true
    end
    -- one chat/token notification each
    _G.tok = function(id, ...)
      for _, text in ipairs({ ... }) do
        b._handle_message({ jsonrpc = '2.0', method = 'chat/token', params = { chatId = id, text = text } })
      end
    end
    _G.answer = function(i, err, result)
      local r = _G.reqs[i]
      r.cb(err, result)
    end
    _G.params = function(i)
      return _G.reqs[i].params
    end
    _G.lines = function(buf)
      return vim.api.nvim_buf_get_lines(buf or 0, 0, -1, false)
    end
    _G.done = function(chat_id, content, extra)
      local r = { chatId = chat_id, doneReason = 'stop',
        messages = { { role = 'assistant', content = content } },
        stats = { evalCount = 7, promptEvalCount = 3, totalDurationMs = 1500, loadDurationMs = 0,
          promptEvalDurationMs = 10, evalDurationMs = 700, tokensPerSecond = 10, firstTokenMs = 250 } }
      for k, v in pairs(extra or {}) do r[k] = v end
      return r
    end
  ]])
  return child
end

-- Like the real ProviderError of chat/send.
function M.provider_error(kind, message, partial, messages)
  return {
    code = -32000,
    message = message,
    data = { kind = kind, message = message, partial = partial, messages = messages },
  }
end

return M
