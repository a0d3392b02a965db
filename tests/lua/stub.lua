-- Child Neovim whose quill-backend is played by fake_transport.lua (given to the real backend
-- module with use_transport): the editor's client code runs, requests land in _G.reqs (answered
-- by hand with answer()), cancels in _G.cancels (as indices into reqs), and tokens go through
-- the real dispatch as the backend would send them. _G.init_result / _G.init_error make
-- `initialize`'s answer.
local h = require('harness')

local M = {}

function M.child(opts)
  local child = h.new_child(opts)
  child.lua([[
    package.path = ... .. '/?.lua;' .. package.path
    _G.notes = {}
    vim.notify = function(msg, level)
      table.insert(_G.notes, { msg = msg, level = level })
    end
    local fake = require('fake_transport')
    _G.fake = fake
    require('quill.backend').use_transport(fake)
    fake.initialize = function()
      return _G.init_error, _G.init_result or { capabilities = {} }
    end
    _G.reqs = fake.requests
    _G.cancels = {}
    fake.on_notification = function(n)
      if n.method == '$/cancelRequest' and type(n.params) == 'table' then
        for i, r in ipairs(fake.requests) do
          if r.id == n.params.id then table.insert(_G.cancels, i) end
        end
      end
    end
    -- one chat/token notification (one read) each
    _G.tok = function(id, ...)
      for _, text in ipairs({ ... }) do
        fake.send({ jsonrpc = '2.0', method = 'chat/token', params = { chatId = id, text = text } })
      end
    end
    _G.answer = function(i, err, result)
      fake.answer(_G.reqs[i], err, result)
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
  ]], { h.dir })
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
