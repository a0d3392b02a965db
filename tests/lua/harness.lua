-- Tiny test runner (describe/it) plus a child-Neovim helper in the style of
-- mini.test. Loaded by tests/lua/run; works on Neovim 0.7.2 and newer.
local M = {}

local uv = vim.uv or vim.loop

M.dir = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
M.root = vim.fn.fnamemodify(M.dir, ':h:h')

package.path = M.dir .. '/?.lua;' .. package.path
package.loaded.harness = M

local function out(s)
  io.stdout:write(s .. '\n')
  io.stdout:flush()
end
-- A line in the spec's report (e.g. why a suite is skipped).
M.say = out

-- Test registration -----------------------------------------------------------

local tests = {}
local stack = {}
local root_hooks = { before = {}, after = {} }

local function full_name(name)
  local parts = {}
  for _, s in ipairs(stack) do
    table.insert(parts, s.name)
  end
  table.insert(parts, name)
  return table.concat(parts, ' > ')
end

function M.describe(name, fn)
  table.insert(stack, { name = name, before = {}, after = {} })
  fn()
  table.remove(stack)
end

function M.it(name, fn)
  local before, after = vim.list_extend({}, root_hooks.before), {}
  for _, s in ipairs(stack) do
    vim.list_extend(before, s.before)
  end
  for i = #stack, 1, -1 do
    vim.list_extend(after, stack[i].after)
  end
  vim.list_extend(after, root_hooks.after)
  table.insert(tests, { name = full_name(name), fn = fn, before = before, after = after })
end

function M.before_each(fn)
  table.insert((stack[#stack] or root_hooks).before, fn)
end

function M.after_each(fn)
  table.insert((stack[#stack] or root_hooks).after, fn)
end

-- Assertions ------------------------------------------------------------------

local function fmt(v)
  return vim.inspect(v)
end

function M.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(string.format('%sexpected %s, got %s', what and (what .. ': ') or '', fmt(expected), fmt(actual)), 2)
  end
end

function M.neq(a, b, what)
  if vim.deep_equal(a, b) then
    error(string.format('%sexpected values to differ, both are %s', what and (what .. ': ') or '', fmt(a)), 2)
  end
end

function M.ok(cond, what)
  if not cond then
    error('assertion failed' .. (what and (': ' .. what) or ''), 2)
  end
  return cond
end

function M.matches(pattern, s, what)
  if type(s) ~= 'string' or not s:find(pattern) then
    error(string.format('%sexpected %s to match %q', what and (what .. ': ') or '', fmt(s), pattern), 2)
  end
end

-- Returns the error message of fn(...), failing if it does not raise.
function M.raises(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then
    error('expected an error, none was raised', 2)
  end
  return tostring(err)
end

-- Polls cond() (running the event loop meanwhile) until true or timeout.
function M.wait_for(cond, timeout_ms, what)
  local deadline = uv.hrtime() + (timeout_ms or 3000) * 1e6
  while uv.hrtime() < deadline do
    local v = cond()
    if v then
      return v
    end
    vim.wait(10)
  end
  error('timed out after ' .. (timeout_ms or 3000) .. ' ms waiting for ' .. (what or 'condition'), 2)
end

-- Environment -----------------------------------------------------------------

-- Absolute path of the real backend binary; errors (the test fails) when absent.
function M.backend_path()
  local path = vim.env.QUILL_BACKEND
  if not path or path == '' then
    path = M.root .. '/build/quill-backend'
  end
  if vim.fn.executable(path) ~= 1 then
    error('backend binary not found at ' .. path .. " (set QUILL_BACKEND or run 'make build')", 0)
  end
  -- absolute: a spec's child may change its directory before it starts the backend
  return vim.fn.fnamemodify(path, ':p')
end

-- Child Neovim ------------------------------------------------------------------

local children = {}

-- A fresh headless Neovim with the repo on 'runtimepath'. It inherits this
-- process's environment (QUILL_BACKEND ...); opts.env adds variables. Its data directory (where
-- chats are saved) is a temporary one of this test unless opts.env names XDG_DATA_HOME.
function M.new_child(opts)
  opts = opts or {}
  local child = {}
  local cmd = {
    vim.v.progpath, '--embed', '--headless', '--clean', '-u', 'NONE', '-i', 'NONE',
    '--cmd', 'set rtp^=' .. vim.fn.fnameescape(M.root),
  }
  local env = vim.tbl_extend('force', {}, opts.env or {})
  env.XDG_DATA_HOME = env.XDG_DATA_HOME or M.temp_dir()
  local job_opts = { rpc = true, env = env }
  local chan = vim.fn.jobstart(cmd, job_opts)
  if chan <= 0 then
    error('could not start child Neovim: ' .. vim.v.progpath)
  end
  child.chan = chan
  child.pid = vim.fn.jobpid(chan)

  -- Run Lua code in the child; `...` are args. Returns the code's return value.
  function child.lua(code, args)
    return vim.rpcrequest(chan, 'nvim_exec_lua', code, args or {})
  end

  function child.cmd(ex)
    return vim.rpcrequest(chan, 'nvim_command', ex)
  end

  -- Type keys as a UI does: nvim_input straight from the RPC channel (not from
  -- inside nvim_exec_lua, where a <C-c> would interrupt instead of being mapped).
  local typed = 0
  function child.input(keys)
    return vim.rpcrequest(chan, 'nvim_input', keys)
  end

  -- Type keys and wait until Neovim has processed them.
  function child.type(keys)
    typed = typed + 1
    child.input(keys .. '<Cmd>lua _G.__typed = ' .. typed .. '<CR>')
    child.wait('_G.__typed == ' .. typed)
  end

  -- Poll the child until `code` (a Lua expression) is truthy; returns its value.
  function child.wait(code, timeout_ms)
    return M.wait_for(function()
      return child.lua('return ' .. code)
    end, timeout_ms or 3000, 'child: ' .. code)
  end

  -- Quit the child (letting VimLeavePre run) and make sure it is gone.
  function child.stop()
    if child.stopped then
      return
    end
    child.stopped = true
    pcall(vim.rpcnotify, chan, 'nvim_command', 'qa!')
    local res = vim.fn.jobwait({ chan }, 3000)[1]
    if res == -1 then
      vim.fn.jobstop(chan)
      vim.fn.jobwait({ chan }, 1000)
    end
  end

  table.insert(children, child)
  return child
end

local function stop_children()
  for _, c in ipairs(children) do
    pcall(c.stop)
  end
  children = {}
end

-- True while process `pid` exists (a zombie counts as gone: an orphan's
-- zombie may never be reaped in a container without a real init).
-- A new temporary directory (symlinks resolved), removed when the test ends.
function M.temp_dir()
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  dir = (vim.uv or vim.loop).fs_realpath(dir)
  M.cleanup(function()
    vim.fn.delete(dir, 'rf')
  end)
  return dir
end

-- Writes `text` to `path` (parent directories created).
function M.write_file(path, text)
  vim.fn.mkdir(vim.fn.fnamemodify(path, ':h'), 'p')
  local f = assert(io.open(path, 'wb'))
  f:write(text)
  f:close()
end

-- The bytes of `path`, or nil when it does not exist.
function M.read_file(path)
  local f = io.open(path, 'rb')
  if not f then
    return nil
  end
  local s = f:read('*a')
  f:close()
  return s
end

function M.pid_alive(pid)
  if uv.kill(pid, 0) ~= 0 then
    return false
  end
  local f = io.open('/proc/' .. pid .. '/stat', 'r')
  if not f then
    return true
  end
  local stat = f:read('*l') or ''
  f:close()
  return stat:match('^%d+ %b() (%a)') ~= 'Z'
end

-- Runner ----------------------------------------------------------------------

local cleanups = {}

-- Register fn to run after the current test, pass or fail (e.g. SIGCONT a
-- process the test stopped, so a failing test leaves nothing behind).
function M.cleanup(fn)
  table.insert(cleanups, fn)
end

local function run_cleanups()
  local list = cleanups
  cleanups = {}
  for i = #list, 1, -1 do
    pcall(list[i])
  end
end

local function run_hooks(list)
  for _, fn in ipairs(list) do
    fn()
  end
end

local function run_one(t)
  local ok, err = xpcall(function()
    run_hooks(t.before)
    t.fn()
  end, debug.traceback)
  local aok, aerr = xpcall(function()
    run_hooks(t.after)
  end, debug.traceback)
  run_cleanups()
  stop_children()
  if ok and not aok then
    ok, err = false, aerr
  end
  return ok, err
end

-- Load the spec file, run every test, print results and quit Neovim with the
-- status (0 = all passed, 1 via :cq otherwise).
function M.run(spec)
  _G.describe, _G.it = M.describe, M.it
  _G.before_each, _G.after_each = M.before_each, M.after_each
  local passed, failed = 0, 0
  local ok_load, load_err = xpcall(function()
    dofile(spec)
  end, debug.traceback)
  if not ok_load then
    out('FAIL loading ' .. spec .. '\n' .. load_err)
    failed = failed + 1
  end
  for _, t in ipairs(tests) do
    local start = uv.hrtime()
    local ok, err = run_one(t)
    local ms = math.floor((uv.hrtime() - start) / 1e6)
    if ok then
      passed = passed + 1
      out(string.format('ok   %s (%d ms)', t.name, ms))
    else
      failed = failed + 1
      out(string.format('FAIL %s (%d ms)\n  %s', t.name, ms, tostring(err):gsub('\n', '\n  ')))
    end
  end
  out(string.format('%d passed, %d failed', passed, failed))
  if failed > 0 then
    vim.cmd('cq')
  else
    vim.cmd('qa!')
  end
end

return M
