-- A fake quill-backend process for the editor's specs, given to the real backend module with
-- backend.use_transport(): the editor's own client code runs (ids, queue until initialized,
-- timeouts, $/cancelRequest, dispatch), only the process is played here. It reads the frames the
-- editor writes, answers `initialize` and `shutdown` itself, and keeps every other request,
-- notification and reply for the spec; M.send plays messages the backend would write (one read
-- batch each, dispatched at once).
local rpc = require('quill.rpc')

local M = {}

M.requests = {} -- the editor's requests (not initialize/shutdown), in order: { id, method, params }
M.notifications = {} -- the editor's notifications: { method, params }
M.replies = {} -- the editor's answers to the backend's requests, by id
M.spawns = 0
-- What `initialize` answers: returns err, result (defaults: no error, no capabilities).
M.initialize = function()
  return nil, { capabilities = {} }
end
-- Called with each request / notification / reply as it arrives (after it is recorded).
M.on_request = nil
M.on_notification = nil
M.on_reply = nil

local current = nil -- the live fake process

local function response(id, err, result)
  local msg = { jsonrpc = '2.0', id = id }
  if err then
    msg.error = err
  else
    msg.result = result == nil and vim.NIL or result
  end
  return msg
end

local function received(t, m)
  if m.method == 'initialize' then
    -- a process answers after this write returns
    vim.schedule(function()
      if not t.exited then
        t.handlers.on_messages({ response(m.id, M.initialize()) }, {})
      end
    end)
  elseif m.method == 'shutdown' then
    t.handlers.on_messages({ response(m.id, nil, nil) }, {})
  elseif m.method == 'exit' then
    t:kill('sigterm')
  elseif type(m.method) == 'string' and m.id ~= nil then
    table.insert(M.requests, { id = m.id, method = m.method, params = m.params })
    if M.on_request then
      M.on_request(M.requests[#M.requests])
    end
  elseif type(m.method) == 'string' then
    table.insert(M.notifications, { method = m.method, params = m.params })
    if M.on_notification then
      M.on_notification(M.notifications[#M.notifications])
    end
  elseif m.id ~= nil then
    M.replies[m.id] = m
    if M.on_reply then
      M.on_reply(m)
    end
  end
end

function M.spawn(_, _, handlers)
  M.spawns = M.spawns + 1
  local t = { pid = 4000 + M.spawns, handlers = handlers, decoder = rpc.new_decoder() }
  current = t
  function t:write(frame)
    if self.exited then
      return false
    end
    local messages = self.decoder:feed(frame)
    for _, m in ipairs(messages) do
      received(self, m)
    end
    return true
  end
  function t:kill(signal)
    if self.exited then
      return
    end
    self.exited = true
    handlers.on_exit(0, signal == 'sigkill' and 9 or 15)
    vim.schedule(handlers.on_closed)
  end
  function t:close() end
  return t
end

-- Messages from the backend, as one read: dispatched now (in the main loop, as the real
-- transport's are).
function M.send(...)
  assert(current and not current.exited, 'fake backend: not running')
  current.handlers.on_messages({ ... }, {})
end

-- Answer request `r` (from M.requests) with an error or a result.
function M.answer(r, err, result)
  M.send(response(r.id, err, result))
end

-- The process exits (a crash): the editor sees it gone.
function M.crash()
  if current then
    current:kill('sigkill')
  end
end

return M
