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

local function check_handshake(r, backend, version)
  r.start('backend handshake')
  local log = backend.log_file()
  local was_running = backend.is_running()
  local done, err, result = false, nil, nil
  backend.start(function(e, res)
    done, err, result = true, e, res
  end)
  vim.wait(HANDSHAKE_MS, function()
    return done
  end, 10)
  if not done then
    r.error(string.format('no answer to initialize within %d ms; see the log %s (:QuillLog)', HANDSHAKE_MS, log))
  elseif err then
    r.error(string.format('initialize failed: %s; see the log %s (:QuillLog)', tostring(err.message), log))
  else
    local info = type(result) == 'table' and result.serverInfo or {}
    r.ok(string.format('initialize answered: %s %s, protocol %s', tostring(info.name), tostring(info.version),
      tostring(result.protocolVersion)))
    if version and info.version ~= version then
      r.warn(string.format("running backend reports %s but '--version' says %s: run :QuillRestart", info.version, version))
    end
    local caps = result.capabilities or {}
    r.info('methods: ' .. table.concat(type(caps.methods) == 'table' and caps.methods or {}, ', '))
  end
  -- Leave the editor as we found it.
  if not was_running then
    backend.stop()
  end
end

function M.check()
  local r = reporter()
  local backend = require('quill.backend')
  check_nvim(r)
  local version = check_binary(r, backend)
  if version then
    check_handshake(r, backend, version)
  end
  r.start('log')
  r.info(string.format('log file: %s (level %s)', backend.log_file(), require('quill.config').get().log_level))
end

return M
