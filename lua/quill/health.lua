-- :checkhealth quill (Neovim 0.7.2 through current).
local M = {}

local uv = vim.uv or vim.loop

-- 0.10+: vim.health.start/ok/...; 0.8-0.9: vim.health.report_*; 0.7: require('health').report_*.
local function reporter()
  local h = vim.health
  if h and h.start then
    return h
  end
  h = (h and h.report_start) and h or require('health')
  return {
    start = h.report_start,
    ok = h.report_ok,
    info = h.report_info,
    warn = h.report_warn,
    error = h.report_error,
  }
end

local HANDSHAKE_MS = 3000

local function check_nvim(r)
  r.start('Neovim')
  local v = vim.version()
  local version = string.format('%d.%d.%d', v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.7.2') == 1 then
    r.ok('Neovim ' .. version)
  else
    r.error('Neovim ' .. version .. ' is too old: quill needs 0.7.2 or newer')
  end
end

-- Returns the version the binary prints, or nil after reporting the problem.
local function check_binary(r, backend)
  r.start('backend binary')
  local cmd, source = backend.resolve_cmd()
  local build = "run 'make build' in " .. backend.root
  local fix = build
  if source ~= 'default location' then
    fix = 'fix or unset ' .. source .. ', or ' .. build
  end
  if not cmd:find('/', 1, true) then
    cmd = vim.fn.exepath(cmd) ~= '' and vim.fn.exepath(cmd) or cmd
  end
  if not uv.fs_stat(cmd) then
    r.error(string.format('quill-backend not found at %s (%s): %s', cmd, source, fix))
    return nil
  end
  if vim.fn.executable(cmd) ~= 1 then
    r.error(string.format('%s (%s) is not executable: %s', cmd, source, fix))
    return nil
  end
  local out = vim.fn.system({ cmd, '--version' })
  local version = out:match('^quill%-backend (%S+)')
  if vim.v.shell_error ~= 0 or not version then
    r.error(string.format("'%s --version' failed (exit %d): %s; %s", cmd, vim.v.shell_error, vim.trim(out), build))
    return nil
  end
  r.ok(string.format('quill-backend %s at %s (%s)', version, cmd, source))
  return version
end

-- Returns the initialize result when the handshake worked (the backend is
-- left running; check() stops it afterwards if it started it).
local function check_handshake(r, backend, version)
  r.start('backend handshake')
  local log = backend.log_file()
  local done, err, result = false, nil, nil
  backend.start(function(e, res)
    done, err, result = true, e, res
  end)
  vim.wait(HANDSHAKE_MS, function()
    return done
  end, 10)
  if not done then
    r.error(string.format('no answer to initialize within %d ms; see the log %s (:QuillLog)', HANDSHAKE_MS, log))
    return nil
  elseif err then
    local advice = nil
    if tostring(err.message):find('host', 1, true) then
      advice = { 'fix the host: setup({ host = ... }) or $OLLAMA_HOST' }
    end
    r.error(string.format('initialize failed: %s; see the log %s (:QuillLog)', tostring(err.message), log), advice)
    return nil
  end
  local info = type(result) == 'table' and result.serverInfo or {}
  r.ok(string.format('initialize answered: %s %s, protocol %s', tostring(info.name), tostring(info.version),
    tostring(result.protocolVersion)))
  if version and info.version ~= version then
    r.warn(string.format("running backend reports %s but '--version' says %s: run :QuillRestart", info.version, version))
  end
  local caps = result.capabilities or {}
  r.info('methods: ' .. table.concat(type(caps.methods) == 'table' and caps.methods or {}, ', '))
  return result
end

-- A backend request answered synchronously (health checks may block).
local function call(backend, method, params, ms)
  local done, err, result = false, nil, nil
  backend.request(method, params, function(e, res)
    done, err, result = true, e, res
  end, { timeout_ms = ms })
  vim.wait(ms + 500, function()
    return done
  end, 10)
  if not done then
    return { code = backend.errors.Timeout, message = method .. ' did not answer' }
  end
  return err, result
end

-- A host as it may be shown: credentials (up to the last '@' after the scheme) become ***.
function M.redact_host(host)
  local start = (host:find('://', 1, true) or -2) + 3
  local at = host:sub(start):match('^.*()@')
  if not at then
    return host
  end
  return host:sub(1, start - 1) .. '***' .. host:sub(start + at - 1)
end

-- The Ollama endpoint's host as shown (also by :QuillInfo).
function M.host_of(cfg)
  local env = vim.env.OLLAMA_HOST
  return M.redact_host(cfg.host or (env ~= '' and env) or 'http://127.0.0.1:11434')
end
local host_of = M.host_of

local function strip(msg)
  return (tostring(msg):gsub('^quill: ', ''))
end

local function report_failure(r, err, host, what)
  local msg = strip(err.message)
  local kind = type(err.data) == 'table' and err.data.kind or nil
  if (kind == 'unreachable' or kind == 'timeout') and msg:find('Ollama', 1, true) then
    r.error(msg, { 'start Ollama: `ollama serve`', 'or point quill at it: setup({ host = ... }) or $OLLAMA_HOST' })
  elseif kind == 'unreachable' or kind == 'timeout' or kind == 'tls' or kind == 'config' then
    r.error(msg, { 'check the endpoint in setup({ endpoints = ... }) (:help quill-endpoints)' })
  else
    r.error(what .. ' at ' .. host .. ' failed: ' .. msg)
  end
end

-- One endpoint through the backend: provider/version (reachability; Ollama's version),
-- models/list, and the endpoint's model (models/show on Ollama; listed, on the others).
local function check_endpoint(r, backend, init, e)
  local cfg = require('quill.config').get()
  local ollama = e.kind == 'ollama'
  local who = ollama and 'Ollama' or 'the server'
  r.start(e.name == 'ollama' and ollama and 'Ollama' or ('endpoint ' .. e.name .. ' (' .. e.kind .. ')'))
  local host = e.name == 'ollama' and host_of(cfg) or M.redact_host(e.url or host_of(cfg))
  local methods = {}
  for _, m in ipairs(type(init.capabilities) == 'table' and init.capabilities.methods or {}) do
    methods[m] = true
  end
  if not methods['models/list'] then
    r.warn('this quill-backend cannot reach Ollama (it does not implement models/list): rebuild it with '
      .. "'make build' in " .. backend.root)
    return
  end
  local current = (require('quill.config').endpoint() or {}).name == e.name
  local model = e.model or (current and cfg.model) or nil
  local ms = cfg.timeouts.connect_ms + 3000
  local version = nil
  if methods['provider/version'] then
    local err, result = call(backend, 'provider/version', { endpoint = e.name }, ms)
    if err then
      report_failure(r, err, host, ollama and 'asking Ollama for its version' or 'asking the server for its models')
      return
    end
    if type(result) == 'table' then
      version = result.version ~= '' and result.version or nil
      host = type(result.host) == 'string' and result.host or host
    end
  end
  local err, result = call(backend, 'models/list', { endpoint = e.name }, ms)
  if err then
    report_failure(r, err, host, 'listing models')
    return
  end
  local names = {}
  for _, m in ipairs(type(result) == 'table' and result.models or {}) do
    table.insert(names, m.name)
  end
  r.ok(string.format('%s%s reachable at %s%s', ollama and 'Ollama' or 'OpenAI-compatible server',
    version and (' ' .. tostring(version)) or '', host, current and ' (the current endpoint)' or ''))
  if #names == 0 then
    r.warn(who .. ' has no models', ollama and { 'run `ollama pull ' .. (model or cfg.model) .. '`' } or nil)
  else
    local shown = { unpack(names, 1, 20) }
    r.info(string.format('%d model%s: %s%s', #names, #names == 1 and '' or 's', table.concat(shown, ', '),
      #names > #shown and (' and ' .. (#names - #shown) .. ' more') or ''))
  end
  if not ollama then
    r.info('tools: ' .. (e.tools == 'auto' and 'offered (a server that refuses them is asked again without)'
      or (e.tools and 'on' or 'off')))
    if model and #names > 0 and not vim.tbl_contains(names, model) then
      r.warn(string.format("the server does not list model '%s' (some, like llama-server, answer with their one "
        .. 'model whatever the name)', model), { 'choose one it lists with :QuillModel' })
    end
    return
  end
  if not methods['models/show'] or not model then
    return
  end
  local serr, show = call(backend, 'models/show', { model = model, endpoint = e.name }, ms)
  if serr then
    local kind = type(serr.data) == 'table' and serr.data.kind or nil
    if kind == 'model_not_found' then
      r.error(string.format("configured model '%s' is not installed", model),
        { 'run `ollama pull ' .. model .. '`', 'or choose another with :QuillModel' })
    else
      r.error(string.format("model '%s': %s", model, strip(serr.message)))
    end
    return
  end
  local caps = type(show) == 'table' and type(show.capabilities) == 'table' and show.capabilities or {}
  local line = string.format("model '%s' is installed; capabilities: %s", model,
    #caps > 0 and table.concat(caps, ', ') or 'not reported')
  if type(show.contextLength) == 'number' then
    line = line .. string.format('; context %d tokens', show.contextLength)
  end
  if #caps > 0 and not vim.tbl_contains(caps, 'completion') then
    r.warn(line, { 'this model cannot chat: choose another with :QuillModel' })
  else
    r.ok(line)
  end
end

function M.check()
  local r = reporter()
  local backend = require('quill.backend')
  check_nvim(r)
  local version = check_binary(r, backend)
  if version then
    local was_running = backend.is_running()
    local init = check_handshake(r, backend, version)
    if init then
      local config = require('quill.config')
      for _, name in ipairs(config.endpoint_names()) do
        check_endpoint(r, backend, init, config.endpoint(name))
      end
    end
    -- Leave the editor as we found it.
    if not was_running then
      backend.stop()
    end
  end
  r.start('log')
  r.info(string.format('log file: %s (level %s)', backend.log_file(), require('quill.config').get().log_level))
end

return M
