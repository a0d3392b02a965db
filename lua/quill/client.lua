-- A JSON-RPC 2.0 client over a peer's transport: request ids, callbacks called exactly once,
-- timeouts, `$/cancelRequest` both ways, requests held until the peer is ready, and the peer's
-- own requests and notifications dispatched to handlers bound by method name. It knows no
-- method of quill's: backend.lua is the quill-specific side (handshake, restart, settings).
--
-- A peer `p` is a table with p.transport (:write(frame)), p.ready, p.queue and p.exited;
-- backend.lua makes one per process.
local rpc = require('quill.rpc')

local M = {}

local uv = vim.uv or vim.loop

M.errors = {
  -- JSON-RPC / contract codes (negative) come from the backend.
  ParseError = -32700,
  InvalidRequest = -32600,
  MethodNotFound = -32601,
  InvalidParams = -32602,
  InternalError = -32603,
  ServerNotInitialized = -32002,
  RequestCancelled = -32800,
  ProviderError = -32000,
  ToolFailed = -32001,
  -- Client-side codes (positive) are made here and never sent on the wire.
  BackendUnavailable = 1, -- the binary could not be started
  BackendExited = 2, -- the process exited (or was stopped) before answering
  Timeout = 3, -- no answer within request_timeout_ms
}

local next_id = 0
local pending = {} -- id -> { method, cb, proc, data, sent, timer }
local request_handlers = {}
local incoming = {} -- the peer's requests not yet answered: id -> { proc, cancel_fns, cancel }
local cancel_incoming -- (p, reason), defined with handle_request
local notification_handlers = {}
local defaults = {} -- notification handlers used when nobody registered one

-- Where the client's own problems go (the backend logs them to its file).
M.log = function() end

local function close_handle(h)
  if h and not h:is_closing() then
    h:close()
  end
end

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.WARN)
end

-- vim.json encodes {} as [], but params/results are objects.
local function object_or_nil(t)
  if type(t) == 'table' and next(t) == nil and getmetatable(t) == nil then
    return vim.empty_dict()
  end
  return t
end

-- One frame to peer `p`.
local function write(data, p)
  if not p or p.exited or not p.transport then
    return false
  end
  return p.transport:write(data)
end
M.write = write

local function run_callback(what, fn, ...)
  local ok, err = pcall(fn, ...)
  if not ok then
    notify('quill: ' .. what .. ' failed: ' .. tostring(err), vim.log.levels.ERROR)
  end
end

-- Finish a request exactly once: stop its timer, call its callback.
local function complete(id, err, result)
  local entry = pending[id]
  if not entry then
    return
  end
  pending[id] = nil
  if entry.timer then
    entry.timer:stop()
    close_handle(entry.timer)
  end
  if entry.cb then
    run_callback('callback of ' .. entry.method, entry.cb, err, result)
  end
end

local function new_id()
  next_id = next_id + 1
  return next_id
end

-- Requests sent (or queued) to process `p` that have no answer yet.
local function fail_pending(p, err)
  local ids = {}
  for id, entry in pairs(pending) do
    if entry.proc == p then
      table.insert(ids, id)
    end
  end
  table.sort(ids)
  for _, id in ipairs(ids) do
    complete(id, vim.tbl_extend('force', {}, err)) -- one table per callback
  end
end


local function handle_response(msg)
  local err = msg.error
  if err == vim.NIL then
    err = nil
  end
  local result = msg.result
  if result == vim.NIL then
    result = nil
  end
  complete(msg.id, err, result)
end

local function normalize_error(err)
  if type(err) ~= 'table' then
    return { code = M.errors.InternalError, message = tostring(err) }
  end
  return {
    code = type(err.code) == 'number' and err.code or M.errors.InternalError,
    message = type(err.message) == 'string' and err.message or tostring(err.message or 'error'),
    data = err.data,
  }
end

local function handle_request(msg, p)
  local responded = false
  local id = msg.id
  local entry = { proc = p, cancel_fns = {} }
  -- The backend waits for exactly one answer per request.
  local function respond(err, result)
    if responded then
      return false
    end
    responded = true
    if incoming[id] == entry then
      incoming[id] = nil
    end
    local reply = { jsonrpc = '2.0', id = id }
    if err ~= nil then
      reply.error = normalize_error(err)
    elseif result == nil then
      reply.result = vim.NIL
    else
      reply.result = object_or_nil(result)
    end
    return write(rpc.encode(reply), p)
  end
  -- A `$/cancelRequest` from the backend (or its exit) runs the handler's
  -- cancel hooks, then answers RequestCancelled unless the handler did.
  function entry.cancel(reason)
    if responded or entry.cancelled then
      return
    end
    entry.cancelled = true
    for _, fn in ipairs(entry.cancel_fns) do
      run_callback('cancel hook of ' .. msg.method, fn, reason)
    end
    respond({ code = M.errors.RequestCancelled, message = 'request cancelled' })
  end
  local ctx = {
    id = id,
    method = msg.method,
    -- fn(reason) runs once if the backend cancels this request before it is answered.
    on_cancel = function(fn)
      table.insert(entry.cancel_fns, fn)
    end,
    cancelled = function()
      return entry.cancelled == true
    end,
  }
  local handler = request_handlers[msg.method]
  if not handler then
    respond({ code = M.errors.MethodNotFound, message = 'method not found: ' .. msg.method })
    return
  end
  local params = msg.params
  if params == vim.NIL then
    params = nil
  end
  incoming[id] = entry
  local ok, err = pcall(handler, params, respond, ctx)
  if not ok then
    respond({ code = M.errors.InternalError, message = 'handler for ' .. msg.method .. ' failed: ' .. tostring(err) })
  end
end

-- Cancel the unanswered backend->editor requests of process `p` (all when nil).
function cancel_incoming(p, reason)
  local list = {}
  for _, entry in pairs(incoming) do
    if p == nil or entry.proc == p then
      table.insert(list, entry)
    end
  end
  for _, entry in ipairs(list) do
    entry.cancel(reason)
  end
end


local function handle_notification(msg, p)
  if msg.method == '$/cancelRequest' then
    -- The backend withdraws one of its editor/* requests.
    local id = type(msg.params) == 'table' and msg.params.id or nil
    local entry = id ~= nil and incoming[id]
    if entry and (p == nil or entry.proc == p) then
      entry.cancel('cancelled')
    end
    return
  end
  local handler = notification_handlers[msg.method] or defaults[msg.method]
  if handler then
    local params = msg.params
    if params == vim.NIL then
      params = nil
    end
    run_callback('handler for ' .. msg.method, handler, params)
  end
end

-- Dispatch one decoded message from peer `p`. Main loop only.
function M.handle_message(msg, p)
  if type(msg) ~= 'table' then
    return
  end
  local has_id = msg.id ~= nil and msg.id ~= vim.NIL
  if type(msg.method) == 'string' then
    if has_id then
      handle_request(msg, p)
    else
      handle_notification(msg, p)
    end
  elseif has_id then
    handle_response(msg)
  elseif msg.error and p then
    -- id null: the backend could not parse something we sent.
    M.log(p, 'error', 'the peer reported: ' .. vim.json.encode(msg.error))
  end
end


-- A frame from the backend that could not be decoded ({ id?, request, reason },
-- see rpc Decoder:feed) fails what it belongs to at once, so nothing waits for
-- a timeout (or, for chat/send, forever): our request with that id, or the
-- backend's request (answered ParseError). Without an id the user is told.
-- Main loop only.
function M.handle_undecodable(bad, p)
  if bad.id ~= nil and bad.request then
    write(rpc.encode({
      jsonrpc = '2.0',
      id = bad.id,
      error = { code = M.errors.ParseError, message = 'the editor could not decode this request: ' .. bad.reason },
    }), p)
    return
  end
  local entry = bad.id ~= nil and pending[bad.id]
  if entry and entry.proc == p then
    complete(bad.id, {
      code = M.errors.ParseError,
      message = string.format("quill: the backend's answer to %s could not be decoded: %s", entry.method, bad.reason),
    })
    return
  end
  notify('quill: a message from the backend could not be decoded (' .. bad.reason .. '); see ' .. tostring(p and p.log_file))
end


local function start_timer(id, ms)
  local timer = uv.new_timer()
  timer:start(ms, 0, function()
    vim.schedule(function()
      local entry = pending[id]
      if not entry or entry.timer ~= timer then
        return
      end
      if entry.sent then
        write(rpc.encode({ jsonrpc = '2.0', method = '$/cancelRequest', params = { id = id } }), entry.proc)
      end
      complete(id, {
        code = M.errors.Timeout,
        message = string.format('quill: %s timed out after %d ms', entry.method, ms),
      })
    end)
  end)
  return timer
end


M.fail_pending = fail_pending
M.cancel_incoming = function(p, reason)
  cancel_incoming(p, reason)
end

-- A new request id (ids are unique in this Neovim, across restarts of the peer).
M.new_id = new_id

-- Send a request to peer `p`; cb(err, result) runs in the main loop exactly once (err: the
-- JSON-RPC error table {code, message, data}). `timeout_ms` (nil: none) fails it with Timeout
-- and withdraws it. Held until the peer is ready unless opts.now. Returns the id. Encoding
-- errors (a value nested too deep) are raised here, before anything is sent.
function M.request(p, method, params, cb, timeout_ms, now)
  local id = new_id()
  local msg = { jsonrpc = '2.0', id = id, method = method }
  if params ~= nil then
    msg.params = object_or_nil(params)
  end
  local entry = { method = method, cb = cb, proc = p, data = rpc.encode(msg) }
  pending[id] = entry
  if timeout_ms then
    entry.timer = start_timer(id, timeout_ms)
  end
  if p.ready or now then
    entry.sent = true
    write(entry.data, p)
  else
    table.insert(p.queue, { id = id, data = entry.data })
  end
  return id
end

function M.notify(p, method, params, now)
  local msg = { jsonrpc = '2.0', method = method }
  if params ~= nil then
    msg.params = object_or_nil(params)
  end
  local data = rpc.encode(msg)
  if p.ready or now then
    return write(data, p)
  end
  table.insert(p.queue, { data = data })
  return true
end

-- Peer `p` became ready: what was held goes out, in order.
function M.release(p)
  local queue = p.queue
  p.queue = {}
  for _, item in ipairs(queue) do
    local entry = item.id and pending[item.id]
    if not item.id or entry then
      if entry then
        entry.sent = true
      end
      write(item.data, p)
    end
  end
end

-- Cancel a request. A sent request gets `$/cancelRequest` and its callback
-- receives whatever the peer answers (normally RequestCancelled); a
-- request still held is failed with RequestCancelled right away.
function M.cancel(id)
  local entry = pending[id]
  if not entry then
    return false
  end
  if entry.sent then
    write(rpc.encode({ jsonrpc = '2.0', method = '$/cancelRequest', params = { id = id } }), entry.proc)
  else
    -- withdrawn now (a release already scheduled must not send it), answered soon
    pending[id] = nil
    if entry.timer then
      entry.timer:stop()
      close_handle(entry.timer)
    end
    if entry.cb then
      vim.schedule(function()
        run_callback('callback of ' .. entry.method, entry.cb, { code = M.errors.RequestCancelled,
          message = 'request cancelled' })
      end)
    end
  end
  return true
end

-- fn(params, respond, ctx) handles a request of the peer; call
-- respond(err, result) exactly once (now or later). An error thrown by fn
-- becomes an InternalError reply. ctx.on_cancel(hook) registers hook(reason),
-- run when the peer cancels the request (`$/cancelRequest`) or exits; the
-- request is then answered RequestCancelled and later responds are dropped.
function M.on_request(method, fn)
  request_handlers[method] = fn
end

-- fn(params) handles a notification of the peer.
function M.on_notification(method, fn)
  notification_handlers[method] = fn
end

-- fn(params) handles notification `method` when nobody registered a handler.
function M.default_notification(method, fn)
  defaults[method] = fn
end

-- Requests waiting for an answer (with a callback; not counting `except`).
function M.pending_count(except)
  local n = 0
  for _, entry in pairs(pending) do
    if entry.cb and entry.method ~= except then
      n = n + 1
    end
  end
  return n
end

return M
