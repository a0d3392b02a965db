-- The quill backend as the editor sees it: lazy start, initialize handshake,
-- request/notify, backend->editor requests, shutdown, restart after a crash.
-- The process and its pipes belong to the transport (transport.lua); tests give
-- it a fake one (use_transport).
--
-- Threading rule: libuv callbacks (exit, stderr, timers) only touch plain Lua
-- state and uv handles; everything that may reach the editor API runs in the
-- main loop (the transport hands over each read's messages there).
local rpc = require('quill.rpc')
local config = require('quill.config')
local uv = vim.uv or vim.loop

local M = {}

M.client_info = { name = 'quill.nvim', version = require('quill.version') }

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

-- Requests that may legitimately run long; the backend enforces its own limits.
local UNTIMED = { ['chat/send'] = true }
-- How long stop() waits at each step (shutdown/exit, SIGTERM, SIGKILL).
local STOP_STEPS_MS = { 500, 250, 250 }

-- What starts the backend: transport.lua's spawn, or a test's fake.
local transport = require('quill.transport')

-- Use `t` (with t.spawn(cmd, args, handlers), see transport.lua) to start backends from now on;
-- nil: the real process transport again.
function M.use_transport(t)
  transport = t or require('quill.transport')
end

local proc = nil -- the current process record (see spawn)
local next_id = 0
local pending = {} -- id -> { method, cb, proc, data, sent, timer }
local request_handlers = {}
local incoming = {} -- backend->editor requests not yet answered: id -> { proc, cancel_fns, cancel }
local cancel_incoming -- (p, reason), defined with handle_request
local notification_handlers = {}
local spawns = 0
local autocmd_created = false

-- Plugin root: this file is <root>/lua/quill/backend.lua.
local function find_root()
  local src = debug.getinfo(1, 'S').source
  if src:sub(1, 1) == '@' then
    src = src:sub(2)
  end
  return vim.fn.fnamemodify(src, ':p:h:h:h')
end

M.root = find_root()

local function close_handle(h)
  if h and not h:is_closing() then
    h:close()
  end
end

-- Appends to the backend's log in its line format. Safe in uv callbacks:
-- plain file I/O, no editor API.
local function log_line(path, level, msg)
  local fd = path and uv.fs_open(path, 'a', 384) -- 0600: it may hold what the model saw
  if not fd then
    return
  end
  local sec, usec = uv.gettimeofday()
  local stamp = os.date('%Y-%m-%d %H:%M:%S', sec) .. string.format('.%03d', math.floor((usec or 0) / 1000))
  uv.fs_write(fd, stamp .. ' [' .. level .. '] quill.nvim: ' .. msg .. '\n', -1)
  uv.fs_close(fd)
end

-- vim.json encodes {} as [], but params/results are objects.
local function object_or_nil(t)
  if type(t) == 'table' and next(t) == nil and getmetatable(t) == nil then
    return vim.empty_dict()
  end
  return t
end

-- Absolute path; expands a leading ~ (no other expansion: '%' stays '%').
local function abs_path(path)
  local full = vim.fn.fnamemodify(path, ':p')
  if #full > 1 then
    full = full:gsub('/+$', '')
  end
  return full
end

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.WARN)
end

-- Returns the binary path and where it came from.
function M.resolve_cmd()
  local cfg = config.get()
  if cfg.backend_cmd then
    local cmd = cfg.backend_cmd
    -- A bare name is looked up in $PATH by uv.spawn.
    if cmd:find('/', 1, true) or cmd:sub(1, 1) == '~' then
      cmd = abs_path(cmd)
    end
    return cmd, "option 'backend_cmd'"
  end
  local env = vim.env.QUILL_BACKEND
  if env and env ~= '' then
    return env, '$QUILL_BACKEND'
  end
  return M.root .. '/build/quill-backend', 'default location'
end

function M.log_file()
  return abs_path(config.get().log_file)
end

-- The params of `initialize`, built from the current config.
-- The workspace root: the one the running backend was given, else what the
-- next `initialize` would send (config.workspace_root or the cwd).
function M.workspace_root()
  if proc and proc.workspace_root then
    return proc.workspace_root
  end
  return abs_path(config.get().workspace_root or uv.cwd())
end

-- The settings the backend holds and `settings/update` replaces whole: timeouts, the
-- Ollama endpoint (`provider`, from host and headers), the named endpoints and the default.
function M._settings_params(cfg)
  cfg = cfg or config.get()
  local params = {
    timeouts = {
      connectMs = cfg.timeouts.connect_ms,
      firstByteMs = cfg.timeouts.first_byte_ms,
      idleMs = cfg.timeouts.idle_ms,
    },
  }
  local provider = {}
  if cfg.host then
    provider.host = cfg.host
  end
  if next(cfg.headers) then
    provider.headers = cfg.headers
  end
  if next(provider) then
    params.provider = provider
  end
  if next(cfg.endpoints) then
    params.endpoints = {}
    for name, e in pairs(cfg.endpoints) do
      params.endpoints[name] = {
        kind = e.kind,
        url = e.url,
        headers = e.headers and next(e.headers) and e.headers or nil,
        apiKeyEnv = e.api_key_env,
      }
    end
  end
  if cfg.endpoint then
    params.endpoint = cfg.endpoint
  end
  return params
end

function M._initialize_params()
  local cfg = config.get()
  local root = abs_path(cfg.workspace_root or uv.cwd())
  local params = M._settings_params(cfg)
  params.clientInfo = { name = M.client_info.name, version = M.client_info.version }
  params.workspaceRoot = root
  return params
end

-- After a second setup(): the running backend takes the new endpoints and timeouts for the next
-- turn (nothing to do when it is not running: it starts with them). cb(err) when given.
function M.apply_settings(cb)
  local function done(err)
    if cb then
      cb(err)
    elseif err then
      notify('quill: ' .. tostring(err.message):gsub('^quill: ', '') .. '; the previous settings stay', vim.log.levels.ERROR)
    end
  end
  if not proc or proc.exited then
    return done(nil)
  end
  local caps = proc.ready and type(proc.init_result) == 'table' and proc.init_result.capabilities
  if caps and type(caps.methods) == 'table' and not vim.tbl_contains(caps.methods, 'settings/update') then
    return done({ message = 'this quill-backend cannot take settings live (rebuild it); :QuillRestart applies them' })
  end
  M.request('settings/update', M._settings_params(), function(err)
    done(err)
  end)
end

-- Writes one frame to process `p`'s transport.
function M._write(data, p)
  if not p or p.exited or not p.transport then
    return false
  end
  return p.transport:write(data)
end

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

local function exit_description(p)
  return string.format('code %s, signal %s', tostring(p.code), tostring(p.signal))
end

-- Final bookkeeping for a process that exited (or is being abandoned). Main loop only; idempotent.
local function finish(p)
  if p.finished then
    return
  end
  p.finished = true
  if p.transport then
    p.transport:close()
  end
  if proc == p then
    proc = nil
  end
  cancel_incoming(p, 'exited') -- close pending confirmations; the answers go nowhere
  local waiters = p.ready_waiters
  p.ready_waiters = {}
  if p.stopping then
    local err = { code = M.errors.BackendExited, message = 'quill backend stopped' }
    fail_pending(p, err)
    for _, fn in ipairs(waiters) do
      run_callback('start callback', fn, err)
    end
    return
  end
  local what = exit_description(p)
  local err = {
    code = M.errors.BackendExited,
    message = 'quill backend exited (' .. what .. ')',
    data = { code = p.code, signal = p.signal, stderr = p.last_stderr },
  }
  log_line(p.log_file, 'warn', 'backend exited unexpectedly (' .. what .. ')')
  fail_pending(p, err)
  for _, fn in ipairs(waiters) do
    run_callback('start callback', fn, err)
  end
  local msg = 'quill: backend exited (' .. what .. '), restarting on next request'
  if p.last_stderr then
    msg = msg .. '\nstderr: ' .. p.last_stderr
  end
  notify(msg, vim.log.levels.WARN)
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
    return M._write(rpc.encode(reply), p)
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

local default_notifications = {
  -- Backend messages meant for the user; info/debug stay in the log.
  log = function(params)
    local levels = { error = vim.log.levels.ERROR, warn = vim.log.levels.WARN }
    if type(params) == 'table' and levels[params.level] then
      notify('quill backend: ' .. tostring(params.message), levels[params.level])
    end
  end,
}

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
  local handler = notification_handlers[msg.method] or default_notifications[msg.method]
  if handler then
    local params = msg.params
    if params == vim.NIL then
      params = nil
    end
    run_callback('handler for ' .. msg.method, handler, params)
  end
end

-- Dispatch one decoded message from process `p` (default: the current one).
-- Main loop only. Exposed for tests.
function M._handle_message(msg, p)
  p = p or proc
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
    log_line(p.log_file, 'error', 'backend reported: ' .. vim.json.encode(msg.error))
  end
end

-- The provider deltas a chat/token joins (the backend counts them; 1 when it
-- did not say).
local function deltas_of(params)
  local d = params.deltas
  if type(d) == 'number' and d >= 1 and d < 2 ^ 31 then
    return math.floor(d)
  end
  return 1
end
M._deltas_of = deltas_of

-- Joins runs of consecutive chat/token notifications of the same chat into
-- one (texts concatenated, `deltas` summed), so a batch costs one append per
-- chat instead of one per notification. Order is kept: only neighbours merge.
function M._join_tokens(messages)
  local out, n = {}, 0
  local run = nil -- params of the notification being extended
  local texts = nil
  local deltas = 0
  local function close_run()
    if texts then
      run.text = table.concat(texts)
      run.deltas = deltas
      texts = nil
    end
  end
  for _, msg in ipairs(messages) do
    local params = msg.params
    if msg.method == 'chat/token' and msg.id == nil and type(params) == 'table' and type(params.text) == 'string' then
      if run and params.chatId == run.chatId then
        if not texts then
          texts = { run.text }
          deltas = deltas_of(run)
        end
        texts[#texts + 1] = params.text
        deltas = deltas + deltas_of(params)
      else
        close_run()
        run = params
        n = n + 1
        out[n] = msg
      end
    else
      close_run()
      run = nil
      n = n + 1
      out[n] = msg
    end
  end
  close_run()
  return out
end

-- One read's messages from process `p` (main loop): the token runs joined, then each
-- dispatched; the frames that could not be decoded fail what they belong to.
local function on_messages(p, messages, undecodable)
  if #messages > 1 then
    messages = M._join_tokens(messages)
  end
  for _, msg in ipairs(messages) do
    local ok, e = pcall(M._handle_message, msg, p)
    if not ok then
      log_line(p.log_file, 'error', 'dispatch failed: ' .. tostring(e))
    end
  end
  for _, bad in ipairs(undecodable or {}) do
    M._handle_undecodable(bad, p)
  end
end

-- A frame from the backend that could not be decoded ({ id?, request, reason },
-- see rpc Decoder:feed) fails what it belongs to at once, so nothing waits for
-- a timeout (or, for chat/send, forever): our request with that id, or the
-- backend's request (answered ParseError). Without an id the user is told.
-- Main loop only. Exposed for tests.
function M._handle_undecodable(bad, p)
  p = p or proc
  if bad.id ~= nil and bad.request then
    M._write(rpc.encode({
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

-- The transport's handlers for process `p` (exposed for the transport's tests).
function M._handlers_of(p)
  return {
    on_messages = function(messages, undecodable)
      on_messages(p, messages, undecodable)
    end,
    on_frame_error = function(e)
      log_line(p.log_file, 'warn', 'bad frame from backend: ' .. e)
    end,
    -- every stderr line goes to the log; the last one is kept for the crash message
    on_stderr = function(line)
      log_line(p.log_file, 'warn', 'backend stderr: ' .. line)
      p.last_stderr = line
    end,
    on_exit = function(code, signal)
      p.exited = true
      p.code, p.signal = code, signal
    end,
    -- gone and drained: its last answers are dispatched, its last stderr line known
    on_closed = function()
      finish(p)
    end,
  }
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
        M._write(rpc.encode({ jsonrpc = '2.0', method = '$/cancelRequest', params = { id = id } }), entry.proc)
      end
      complete(id, {
        code = M.errors.Timeout,
        message = string.format('quill: %s timed out after %d ms', entry.method, ms),
      })
    end)
  end)
  return timer
end

local function ensure_autocmd()
  if autocmd_created then
    return
  end
  autocmd_created = true
  local group = vim.api.nvim_create_augroup('quill', { clear = false })
  vim.api.nvim_create_autocmd('VimLeavePre', {
    group = group,
    desc = 'stop quill-backend',
    callback = function()
      M.stop()
    end,
  })
end

local function on_initialized(p, err, result)
  if err and p.exited then
    return -- finish() reports the exit and fails everything
  end
  local waiters = p.ready_waiters
  p.ready_waiters = {}
  if err then
    local reason = tostring(err.message):gsub('^quill: ', '')
    local e = { code = err.code, message = 'quill: backend initialize failed: ' .. reason, data = err }
    log_line(p.log_file, 'error', e.message)
    for _, fn in ipairs(waiters) do
      run_callback('start callback', fn, e)
    end
    fail_pending(p, e)
    if proc == p then
      M.stop()
    end
    return
  end
  p.ready = true
  p.init_result = result
  p.server_info = type(result) == 'table' and result.serverInfo or nil
  local queue = p.queue
  p.queue = {}
  for _, item in ipairs(queue) do
    local entry = item.id and pending[item.id]
    if not item.id or entry then
      if entry then
        entry.sent = true
      end
      M._write(item.data, p)
    end
  end
  for _, fn in ipairs(waiters) do
    run_callback('start callback', fn, nil, result)
  end
end

-- The log is cut before a backend starts once it is over LOG_MAX_BYTES: it becomes <log>.1,
-- the one old file kept.
M.LOG_MAX_BYTES = 10 * 1024 * 1024
local session_marked = false

local function rotate_log(path)
  local st = uv.fs_stat(path)
  if st and st.size > M.LOG_MAX_BYTES then
    uv.fs_rename(path, path .. '.1')
  end
end

-- The line :QuillLog looks for: where this Neovim's lines begin.
function M.session_line()
  return ('session start (Neovim pid %d)'):format(vim.fn.getpid())
end

local function spawn()
  local cfg = config.get()
  local cmd = M.resolve_cmd()
  local log_file = M.log_file()
  vim.fn.mkdir(vim.fn.fnamemodify(log_file, ':h'), 'p')
  rotate_log(log_file)
  if not session_marked then
    session_marked = true
    log_line(log_file, 'info', '===== ' .. M.session_line() .. ' =====')
  end
  local p = {
    cmd = cmd,
    log_file = log_file,
    queue = {}, -- messages held until initialize has answered
    ready_waiters = {},
  }
  local t, why = transport.spawn(cmd, { '--log-file', log_file, '--log-level', cfg.log_level }, M._handlers_of(p))
  if not t then
    return nil, {
      code = M.errors.BackendUnavailable,
      message = string.format("quill: cannot start backend '%s': %s (run 'make build' in %s)", cmd, tostring(why), M.root),
    }
  end
  p.transport, p.pid = t, t.pid
  spawns = spawns + 1
  ensure_autocmd()

  local id = new_id()
  pending[id] = {
    method = 'initialize',
    proc = p,
    sent = true,
    cb = function(err, result)
      on_initialized(p, err, result)
    end,
  }
  pending[id].timer = start_timer(id, cfg.request_timeout_ms)
  local init_params = M._initialize_params()
  p.workspace_root = init_params.workspaceRoot
  M._write(rpc.encode({ jsonrpc = '2.0', id = id, method = 'initialize', params = init_params }), p)
  return p
end

-- The running process, spawning it if needed; nil, err if it cannot start.
local function ensure()
  if proc and proc.exited then
    finish(proc) -- report the old exit before starting again
  end
  if proc then
    return proc
  end
  local p, err = spawn()
  if not p then
    return nil, err
  end
  proc = p
  return p
end

-- Start the backend if needed. on_ready(err, initialize_result) is called
-- (scheduled) once initialize has answered, or with the error that prevented it.
function M.start(on_ready)
  local p, err = ensure()
  if on_ready then
    if not p then
      vim.schedule(function()
        on_ready(err)
      end)
    elseif p.ready then
      vim.schedule(function()
        on_ready(nil, p.init_result)
      end)
    else
      table.insert(p.ready_waiters, on_ready)
    end
  end
  return p ~= nil, err
end

-- Send a request; cb(err, result) runs in the main loop exactly once. err is
-- the JSON-RPC error table {code, message, data}. opts.timeout_ms overrides
-- request_timeout_ms (false: no limit). Returns the request id.
function M.request(method, params, cb, opts)
  opts = opts or {}
  local id = new_id()
  local p, err = ensure()
  if not p then
    if cb then
      vim.schedule(function()
        cb(err)
      end)
    end
    return id
  end
  local msg = { jsonrpc = '2.0', id = id, method = method }
  if params ~= nil then
    msg.params = object_or_nil(params)
  end
  local entry = { method = method, cb = cb, proc = p, data = rpc.encode(msg) }
  pending[id] = entry
  local timeout = opts.timeout_ms
  if timeout == nil and not UNTIMED[method] then
    timeout = config.get().request_timeout_ms
  end
  if timeout then
    entry.timer = start_timer(id, timeout)
  end
  if p.ready then
    entry.sent = true
    M._write(entry.data, p)
  else
    table.insert(p.queue, { id = id, data = entry.data })
  end
  return id
end

function M.notify(method, params)
  local p = ensure()
  if not p then
    return false
  end
  local msg = { jsonrpc = '2.0', method = method }
  if params ~= nil then
    msg.params = object_or_nil(params)
  end
  local data = rpc.encode(msg)
  if p.ready then
    return M._write(data, p)
  end
  table.insert(p.queue, { data = data })
  return true
end

-- Cancel a request. A sent request gets `$/cancelRequest` and its callback
-- receives whatever the backend answers (normally RequestCancelled); a
-- request still queued is failed with RequestCancelled right away.
function M.cancel(id)
  local entry = pending[id]
  if not entry then
    return false
  end
  if entry.sent then
    M._write(rpc.encode({ jsonrpc = '2.0', method = '$/cancelRequest', params = { id = id } }), entry.proc)
  else
    vim.schedule(function()
      complete(id, { code = M.errors.RequestCancelled, message = 'request cancelled' })
    end)
  end
  return true
end

-- fn(params, respond, ctx) handles a backend->editor request; call
-- respond(err, result) exactly once (now or later). An error thrown by fn
-- becomes an InternalError reply. ctx.on_cancel(hook) registers hook(reason),
-- run when the backend cancels the request (`$/cancelRequest`) or exits; the
-- request is then answered RequestCancelled and later responds are dropped.
function M.on_request(method, fn)
  request_handlers[method] = fn
end

-- fn(params) handles a backend->editor notification.
function M.on_notification(method, fn)
  notification_handlers[method] = fn
end

-- Stop the backend: shutdown + exit, then SIGTERM, then SIGKILL. Blocks at most ~1 s.
function M.stop()
  local p = proc
  if not p then
    return
  end
  p.stopping = true
  if not p.exited then
    local id = new_id()
    pending[id] = { method = 'shutdown', proc = p, sent = true }
    M._write(rpc.encode({ jsonrpc = '2.0', id = id, method = 'shutdown' }), p)
    M._write(rpc.encode({ jsonrpc = '2.0', method = 'exit' }), p)
    local signals = { false, 'sigterm', 'sigkill' }
    for i, ms in ipairs(STOP_STEPS_MS) do
      if signals[i] and not p.exited then
        p.transport:kill(signals[i])
      end
      if vim.wait(ms, function()
        return p.exited == true
      end, 5) then
        break
      end
    end
  end
  finish(p)
end

-- The current process record (tests feed its transport).
function M._process()
  return proc
end

function M.is_running()
  return proc ~= nil and not proc.exited
end

-- Requests waiting for an answer (not counting internal ones).
function M.pending_count()
  local n = 0
  for _, entry in pairs(pending) do
    if entry.cb and entry.method ~= 'initialize' then
      n = n + 1
    end
  end
  return n
end

function M.info()
  local p = proc
  local running = M.is_running()
  return {
    pid = running and p.pid or nil,
    running = running,
    ready = running and p.ready or false,
    server_info = running and p.server_info or nil,
    capabilities = running and p.init_result and p.init_result.capabilities or nil,
    restarts = math.max(spawns - 1, 0),
    cmd = (M.resolve_cmd()),
    log_file = M.log_file(),
  }
end

return M
