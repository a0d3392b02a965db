-- The quill backend as the editor sees it: lazy start, initialize handshake,
-- request/notify, backend->editor requests, shutdown, restart after a crash.
-- The process and its pipes belong to the transport (transport.lua); tests give
-- it a fake one (use_transport).
--
-- Threading rule: libuv callbacks (exit, stderr, timers) only touch plain Lua
-- state and uv handles; everything that may reach the editor API runs in the
-- main loop (the transport hands over each read's messages there).
local client = require('quill.client')
local config = require('quill.config')
local uv = vim.uv or vim.loop

local M = {}

M.client_info = { name = 'quill.nvim', version = require('quill.version') }

M.errors = client.errors

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

local function run_callback(what, fn, ...)
  local ok, err = pcall(fn, ...)
  if not ok then
    notify('quill: ' .. what .. ' failed: ' .. tostring(err), vim.log.levels.ERROR)
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
  client.cancel_incoming(p, 'exited') -- close pending confirmations; the answers go nowhere
  local waiters = p.ready_waiters
  p.ready_waiters = {}
  if p.stopping then
    local err = { code = M.errors.BackendExited, message = 'quill backend stopped' }
    client.fail_pending(p, err)
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
  client.fail_pending(p, err)
  for _, fn in ipairs(waiters) do
    run_callback('start callback', fn, err)
  end
  local msg = 'quill: backend exited (' .. what .. '), restarting on next request'
  if p.last_stderr then
    msg = msg .. '\nstderr: ' .. p.last_stderr
  end
  notify(msg, vim.log.levels.WARN)
end

-- Backend messages meant for the user; info/debug stay in the log.
client.default_notification('log', function(params)
  local levels = { error = vim.log.levels.ERROR, warn = vim.log.levels.WARN }
  if type(params) == 'table' and levels[params.level] then
    notify('quill backend: ' .. tostring(params.message), levels[params.level])
  end
end)

client.log = function(p, level, msg)
  log_line(p and p.log_file, level, msg)
end

-- Dispatch one decoded message from process `p` (default: the current one). Main loop only.
function M._handle_message(msg, p)
  return client.handle_message(msg, p or proc)
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
    client.handle_undecodable(bad, p)
  end
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
    client.fail_pending(p, e)
    if proc == p then
      M.stop()
    end
    return
  end
  p.ready = true
  p.init_result = result
  p.server_info = type(result) == 'table' and result.serverInfo or nil
  client.release(p)
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

  local init_params = M._initialize_params()
  p.workspace_root = init_params.workspaceRoot
  client.request(p, 'initialize', init_params, function(err, result)
    on_initialized(p, err, result)
  end, cfg.request_timeout_ms, true)
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
  local p, err = ensure()
  if not p then
    if cb then
      vim.schedule(function()
        cb(err)
      end)
    end
    return client.new_id()
  end
  local timeout = opts.timeout_ms
  if timeout == nil and not UNTIMED[method] then
    timeout = config.get().request_timeout_ms
  end
  return client.request(p, method, params, cb, timeout or nil)
end

function M.notify(method, params)
  local p = ensure()
  if not p then
    return false
  end
  return client.notify(p, method, params)
end

M.cancel = client.cancel -- see client.cancel
M.on_request = client.on_request -- fn(params, respond, ctx): see client.on_request
M.on_notification = client.on_notification

-- Stop the backend: shutdown + exit, then SIGTERM, then SIGKILL. Blocks at most ~1 s.
function M.stop()
  local p = proc
  if not p then
    return
  end
  p.stopping = true
  if not p.exited then
    client.request(p, 'shutdown', nil, nil, nil, true)
    client.notify(p, 'exit', nil, true)
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

-- Requests waiting for an answer (not counting the handshake).
function M.pending_count()
  return client.pending_count('initialize')
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
