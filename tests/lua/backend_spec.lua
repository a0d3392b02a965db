-- quill.backend against the real quill-backend binary ($QUILL_BACKEND), each
-- test in a fresh child Neovim.
local h = require('harness')
local shape = require('shape')
local eq, ok = h.eq, h.ok
local uv = vim.uv or vim.loop

local bin

-- Child with vim.notify captured into _G.notes and a callback recorder:
-- record(key) returns cb(err, result) storing _G.res[key] = {err, result, n}.
local function new_child()
  bin = h.backend_path()
  local child = h.new_child()
  child.lua([[
    vim.env.QUILL_BACKEND = ...
    _G.notes = {}
    vim.notify = function(msg, level)
      table.insert(_G.notes, { msg = msg, level = level })
    end
    _G.b = require('quill.backend')
    _G.res = {}
    _G.record = function(key)
      return function(err, result)
        local prev = _G.res[key]
        _G.res[key] = { err = err, result = result, n = (prev and prev.n or 0) + 1 }
      end
    end
  ]], { bin })
  return child
end

local function start(child)
  child.lua([[b.start(record('init'))]])
  child.wait('res.init ~= nil')
  local init = child.lua('return res.init')
  eq(nil, init.err, 'initialize error')
  return init.result
end

-- SIGSTOP the backend; whatever happens, it is continued after the test so
-- it can see EOF and exit instead of lingering stopped.
local function freeze(pid)
  h.cleanup(function()
    uv.kill(pid, 'sigcont')
  end)
  eq(0, uv.kill(pid, 'sigstop'))
end

local function binary_version()
  local out = vim.fn.system({ bin, '--version' })
  eq(0, vim.v.shell_error, 'quill-backend --version exit status')
  local v = out:match('^quill%-backend (%S+)')
  ok(v, 'unexpected --version output: ' .. out)
  return v
end

describe('backend process', function()
  it('starts lazily and completes the initialize handshake', function()
    local child = new_child()
    eq({ false, nil }, child.lua('return { b.is_running(), b.info().pid }'), 'nothing runs before first use')
    local result = start(child)
    eq('quill-backend', result.serverInfo.name)
    eq(binary_version(), result.serverInfo.version)
    eq(1, result.protocolVersion)
    ok(vim.tbl_contains(result.capabilities.methods, 'initialize'), 'methods lists initialize')
    ok(vim.tbl_contains(result.capabilities.methods, 'shutdown'), 'methods lists shutdown')
    local example = vim.json.decode(table.concat(vim.fn.readfile(h.root .. '/protocol/examples/initialize.response.json'), '\n'))
    eq({}, shape.diff(example.result, result, nil, 'result'), 'shape of the real initialize result')
    local info = child.lua('return b.info()')
    eq(true, info.running)
    eq(result.serverInfo, info.server_info)
    eq(0, info.restarts)
    eq('number', type(info.pid))
    ok(h.pid_alive(info.pid), 'backend pid is alive')
  end)

  it('passes the workspace root and log options to the backend', function()
    local child = new_child()
    local log = vim.fn.tempname() .. '/sub/quill.log'
    child.lua([[require('quill.config').setup({ log_file = ..., log_level = 'debug', workspace_root = '/tmp' })]], { log })
    start(child)
    child.lua('b.stop()')
    local text = table.concat(vim.fn.readfile(log), '\n')
    ok(text:find('/tmp', 1, true), 'log mentions the workspace root: ' .. text)
  end)

  it('answers many concurrent requests, each to its own callback', function()
    local child = new_child()
    -- First batch is queued behind initialize, second goes straight out.
    for round = 1, 2 do
      child.lua([[
        local round = ...
        for i = 1, 8 do
          local method = (i % 4 == 0) and 'initialize' or ('test/unknown' .. i)
          local params = method == 'initialize' and { workspaceRoot = '/' } or { i = i }
          b.request(method, params, record(round .. ':' .. i))
        end
      ]], { round })
      child.wait(('vim.tbl_count(res) >= %d'):format(8 * round))
    end
    local res = child.lua('return res')
    for round = 1, 2 do
      for i = 1, 8 do
        local r = res[round .. ':' .. i]
        eq(1, r.n, 'callback count for ' .. round .. ':' .. i)
        -- initialize again -> InvalidRequest, unknown method -> MethodNotFound
        eq((i % 4 == 0) and -32600 or -32601, r.err.code, 'code for ' .. round .. ':' .. i)
      end
    end
  end)

  it('delivers MethodNotFound for an unknown method to the callback', function()
    local child = new_child()
    child.lua([[b.request('no/such', { x = 1 }, record('r'))]])
    child.wait('res.r ~= nil')
    local r = child.lua('return res.r')
    eq(-32601, r.err.code)
    eq('string', type(r.err.message))
    eq(nil, r.result)
    eq(0, child.lua('return b.pending_count()'))
  end)

  it('times out a request the backend does not answer, sending $/cancelRequest', function()
    local child = new_child()
    start(child)
    local pid = child.lua('return b.info().pid')
    freeze(pid)
    child.lua([[
      _G.sent = {}
      local t = b._process().transport -- what the editor writes to the backend, seen on the way
      local write = t.write
      t.write = function(self, data)
        table.insert(_G.sent, data)
        return write(self, data)
      end
      _G.t0 = vim.loop.hrtime()
      _G.id = b.request('test/slow', nil, record('slow'), { timeout_ms = 200 })
    ]])
    child.wait('res.slow ~= nil')
    local r = child.lua('return { res = res.slow, ms = (vim.loop.hrtime() - t0) / 1e6, id = id }')
    eq(3, r.res.err.code, 'Timeout code')
    h.matches('timed out after 200 ms', r.res.err.message)
    ok(r.ms >= 190 and r.ms < 2000, 'timed out after ' .. r.ms .. ' ms')
    local sent = child.lua('return sent')
    local msgs = require('quill.rpc').new_decoder():feed(table.concat(sent))
    eq({ jsonrpc = '2.0', method = '$/cancelRequest', params = { id = r.id } }, msgs[#msgs])
    -- The late answer after SIGCONT must not reach the callback a second time.
    uv.kill(pid, 'sigcont')
    child.lua([[b.request('test/after', nil, record('after'))]])
    child.wait('res.after ~= nil')
    eq(1, child.lua('return res.slow.n'))
  end)

  it('cancels a queued request immediately and a sent one with $/cancelRequest', function()
    local child = new_child()
    child.lua([[
      _G.qid = b.request('test/queued', nil, record('queued'))
      b.cancel(qid)
    ]])
    child.wait('res.queued ~= nil')
    eq(-32800, child.lua('return res.queued.err.code'))
    start(child)
    local pid = child.lua('return b.info().pid')
    freeze(pid)
    child.lua([[
      _G.sent = {}
      local t = b._process().transport -- what the editor writes to the backend, seen on the way
      local write = t.write
      t.write = function(self, data)
        table.insert(_G.sent, data)
        return write(self, data)
      end
      _G.sid = b.request('test/sent', nil, record('sent'))
      _G.cancel_ok = b.cancel(sid)
    ]])
    eq(true, child.lua('return cancel_ok'))
    local msgs = require('quill.rpc').new_decoder():feed(table.concat(child.lua('return sent')))
    eq({ jsonrpc = '2.0', method = '$/cancelRequest', params = { id = child.lua('return sid') } }, msgs[2])
    uv.kill(pid, 'sigcont')
    child.wait('res.sent ~= nil')
    eq(1, child.lua('return res.sent.n'))
    eq(false, child.lua('return b.cancel(sid)'), 'cancel after completion')
  end)
end)

describe('the client', function()
  it('never sends a request cancelled while it was held for the handshake', function()
    local child = new_child()
    local r = child.lua([[
      package.path = ... .. '/?.lua;' .. package.path
      local fake = require('fake_transport')
      b.use_transport(fake)
      _G.got = nil
      local id = b.request('chat/send', { x = 1 }, function(err) _G.got = err end)
      b.cancel(id) -- (the handshake's answer is already on its way)
      vim.wait(500, function() return _G.got ~= nil and b.info().ready end)
      return { got = _G.got and _G.got.code, sent = #fake.requests, notes = #fake.notifications,
        pending = b.pending_count() }
    ]], { h.dir })
    eq({ got = -32800, sent = 0, notes = 0, pending = 0 }, r)
  end)

  it('keeps nothing of a stopped backend (process records are collected)', function()
    local child = new_child()
    local r = child.lua([[
      local alive = setmetatable({}, { __mode = 'v' })
      for i = 1, 3 do
        local done = false
        b.start(function() done = true end)
        vim.wait(5000, function() return done end)
        alive[i] = b._process()
        b.stop()
      end
      -- (a process that exits late is held by its transport's callbacks until they have run)
      local function count()
        collectgarbage()
        collectgarbage()
        local n = 0
        for _ in pairs(alive) do n = n + 1 end
        return n
      end
      vim.wait(5000, function() return count() == 0 end, 50)
      return count()
    ]])
    eq(0, r)
  end)
end)

describe('frames that cannot be decoded', function()
  it('fail the pending request they answer at once, not by timeout', function()
    local child = new_child()
    start(child)
    freeze(child.lua('return b.info().pid')) -- the real backend answers nothing meanwhile
    child.lua([[
      local function frame(body) return 'Content-Length: ' .. #body .. '\r\n\r\n' .. body end
      _G.t0 = vim.loop.hrtime()
      local deep = b.request('test/deep', nil, record('deep'))
      local latin = b.request('test/latin', nil, record('latin'))
      local text = b.request('test/text', nil, record('text'))
      -- Deeper than vim.json's own limit (1000); the id comes after the deep part.
      local nested = ('['):rep(1100) .. (']'):rep(1100)
      require("quill.transport")._feed(b._process().transport,
        frame('{"error":{"code":1,"message":"x","data":' .. nested .. '},"id":' .. deep .. ',"jsonrpc":"2.0"}')
          .. frame('{"id":' .. latin .. ',"jsonrpc":"2.0","result":{"content":"caf\233"}}')
          .. frame('{"id":' .. text .. ',"jsonrpc":"2.0","result":{"content":'))
    ]])
    child.wait('res.deep ~= nil and res.latin ~= nil and res.text ~= nil', 1000)
    local r = child.lua('return { res = res, ms = (vim.loop.hrtime() - t0) / 1e6, notes = notes }')
    for key, why in pairs({ deep = 'deeper than 256', latin = 'not valid UTF%-8', text = 'not JSON' }) do
      local err = r.res[key].err
      ok(err, key .. ' failed')
      eq(-32700, err.code, key)
      h.matches("answer to test/" .. key .. " could not be decoded: it [^;]*" .. why, err.message)
      eq(1, r.res[key].n)
    end
    ok(r.ms < 1000, 'failed after ' .. r.ms .. ' ms')
    eq({}, r.notes, 'the callbacks carry the errors')
  end)

  it("answer the backend's request with ParseError, and tell the user when no id is found", function()
    local child = new_child()
    start(child)
    child.lua([[
      local function frame(body) return 'Content-Length: ' .. #body .. '\r\n\r\n' .. body end
      _G.sent = {}
      local t = b._process().transport -- what the editor answers, kept from the backend
      t.write = function(_, data)
        table.insert(_G.sent, data)
        return true
      end
      require("quill.transport")._feed(b._process().transport,
        frame('{"id":9,"jsonrpc":"2.0","method":"editor/readFile","params":{"path":' .. ('['):rep(300) .. (']'):rep(300) .. '}}')
          .. frame('{"jsonrpc":"2.0","method":"chat/token","params":{"text":"\255"}}'))
    ]])
    child.wait('#sent == 1 and #notes == 1')
    local msgs = require('quill.rpc').new_decoder():feed(table.concat(child.lua('return sent')))
    eq(9, msgs[1].id)
    eq(-32700, msgs[1].error.code)
    h.matches('deeper than 256', msgs[1].error.message)
    h.matches('could not be decoded %(it is not valid UTF%-8', child.lua('return notes[1].msg'))
  end)

  it('are never sent: invalid UTF-8 in params becomes U+FFFD and the backend reads the request', function()
    local child = new_child()
    start(child)
    child.lua([[
      _G.sent = {}
      local t = b._process().transport -- what the editor writes to the backend, seen on the way
      local write = t.write
      t.write = function(self, data)
        table.insert(_G.sent, data)
        return write(self, data)
      end
      b.request('test/latin', { text = 'caf\233 na\239ve', ok = 'déjà vu' }, record('latin'))
    ]])
    -- Old code: the backend answered -32700 with a null id, and the request waited for its timeout.
    child.wait('res.latin ~= nil', 2000)
    eq(-32601, child.lua('return res.latin.err.code'), 'the backend decoded the request')
    local msgs = require('quill.rpc').new_decoder():feed(table.concat(child.lua('return sent')))
    eq('caf\239\191\189 na\239\191\189ve', msgs[1].params.text)
    eq('déjà vu', msgs[1].params.ok)
  end)
end)

describe('backend crash', function()
  it('fails pending requests, notifies once, restarts on the next request', function()
    local child = new_child()
    start(child)
    local pid = child.lua('return b.info().pid')
    -- SIGSTOP first so the requests are certainly unanswered when SIGKILL lands.
    freeze(pid)
    child.lua([[
      b.request('test/p1', { n = 1 }, record('p1'))
      b.request('test/p2', { n = 2 }, record('p2'))
      vim.loop.kill(..., 'sigkill')
    ]], { pid })
    child.wait('res.p1 ~= nil and res.p2 ~= nil and #notes > 0')
    local res = child.lua('return res')
    for _, key in ipairs({ 'p1', 'p2' }) do
      eq(1, res[key].n, key .. ' callback count')
      eq(2, res[key].err.code, key .. ' BackendExited code')
      h.matches('^quill backend exited %(code %d+, signal 9%)$', res[key].err.message)
    end
    eq(false, child.lua('return b.is_running()'))
    ok(not h.pid_alive(pid), 'killed backend is gone')

    child.lua([[b.request('test/after', nil, record('after'))]])
    child.wait('res.after ~= nil')
    eq(-32601, child.lua('return res.after.err.code'), 'the restarted backend answers')
    local info = child.lua('return b.info()')
    eq(true, info.running)
    eq(1, info.restarts)
    h.neq(pid, info.pid)
    eq('quill-backend', info.server_info.name)

    vim.wait(300)
    local notes = child.lua('return notes')
    eq(1, #notes, 'exactly one notification: ' .. vim.inspect(notes))
    eq(vim.log.levels.WARN, notes[1].level)
    h.matches('^quill: backend exited %(code %d+, signal 9%), restarting on next request', notes[1].msg)
  end)

  it('notifies once for a crash with nothing pending', function()
    local child = new_child()
    start(child)
    local pid = child.lua('return b.info().pid')
    uv.kill(pid, 'sigkill')
    child.wait('#notes > 0')
    vim.wait(300)
    eq(1, child.lua('return #notes'))
    eq(false, child.lua('return b.is_running()'))
  end)

  it('reports the exit code and the last stderr line, and logs stderr', function()
    local child = new_child()
    local log = vim.fn.tempname() .. '.log'
    child.lua([[
      local fake, log = ...
      vim.env.QUILL_BACKEND = fake
      require('quill.config').setup({ log_file = log })
      b.request('test/x', nil, record('x'))
    ]], { h.dir .. '/fixtures/crashing-backend', log })
    child.wait('res.x ~= nil and #notes > 0')
    eq({ code = 2, message = 'quill backend exited (code 3, signal 0)' },
      child.lua('return { code = res.x.err.code, message = res.x.err.message }'))
    local notes = child.lua('return notes')
    eq(1, #notes)
    eq('quill: backend exited (code 3, signal 0), restarting on next request\nstderr: fatal: simulated crash',
      notes[1].msg)
    local text = table.concat(vim.fn.readfile(log), '\n')
    ok(text:find('backend stderr: starting up', 1, true), text)
    ok(text:find('backend stderr: fatal: simulated crash', 1, true), text)
  end)

  it('fails queued requests and stops the process when initialize is refused', function()
    local child = new_child()
    child.lua([[
      vim.env.QUILL_BACKEND = ...
      b.start(record('init'))
      b.request('test/queued', nil, record('queued'))
      _G.pid = b.info().pid
    ]], { h.dir .. '/fixtures/failing-init-backend' })
    child.wait('res.init ~= nil and res.queued ~= nil and not b.is_running()', 3000)
    local res = child.lua('return res')
    eq(-32602, res.init.err.code)
    eq('quill: backend initialize failed: workspaceRoot must be a string', res.init.err.message)
    eq(res.init.err.message, res.queued.err.message)
    eq(1, res.queued.n)
    h.wait_for(function()
      return not h.pid_alive(child.lua('return pid'))
    end, 2000, 'the refused backend to be stopped')
    eq(0, child.lua('return #notes'), 'a refused initialize is reported to callers, not as a crash')
  end)

  it('reports a missing binary to the callback with how to build it', function()
    local child = new_child()
    child.lua([[
      vim.env.QUILL_BACKEND = '/nonexistent/quill-backend'
      b.request('test/x', nil, record('x'))
    ]])
    child.wait('res.x ~= nil')
    local err = child.lua('return res.x.err')
    eq(1, err.code, 'BackendUnavailable')
    h.matches('/nonexistent/quill%-backend', err.message)
    h.matches("run 'make build' in ", err.message)
    eq(0, child.lua('return #notes'))
  end)
end)

describe('backend stop', function()
  it('shuts down cleanly and leaves no process', function()
    local child = new_child()
    start(child)
    local pid = child.lua('return b.info().pid')
    local r = child.lua([[
      local t0 = vim.loop.hrtime()
      b.stop()
      local ok = vim.loop.kill(..., 0)
      return { ms = (vim.loop.hrtime() - t0) / 1e6, running = b.is_running(), alive = ok == 0 }
    ]], { pid })
    eq(false, r.running)
    eq(false, r.alive, 'process still exists after stop()')
    ok(r.ms < 1200, 'stop took ' .. r.ms .. ' ms')
    ok(not h.pid_alive(pid))
    eq(0, child.lua('return #notes'), 'a requested stop is not reported as a crash')
  end)

  it('kills a backend that does not react within about a second', function()
    local child = new_child()
    start(child)
    local pid = child.lua('return b.info().pid')
    freeze(pid)
    local r = child.lua([[
      b.request('test/pending', nil, record('pending'))
      local t0 = vim.loop.hrtime()
      b.stop()
      return { ms = (vim.loop.hrtime() - t0) / 1e6, alive = vim.loop.kill(..., 0) == 0 }
    ]], { pid })
    eq(false, r.alive, 'process still exists after stop()')
    ok(r.ms < 1500, 'stop took ' .. r.ms .. ' ms')
    child.wait('res.pending ~= nil')
    eq(2, child.lua('return res.pending.err.code'))
    eq(0, child.lua('return #notes'))
  end)

  it('stops the backend when Neovim exits (VimLeavePre)', function()
    local child = new_child()
    start(child)
    local pid = child.lua('return b.info().pid')
    eq(1, child.lua([[return #vim.api.nvim_get_autocmds({ group = 'quill', event = 'VimLeavePre' })]]))
    child.stop()
    h.wait_for(function()
      return not h.pid_alive(pid)
    end, 2000, 'backend to exit with the editor')
  end)
end)

describe('backend -> editor messages', function()
  -- The backend played by fake_transport.lua: what the editor answers is kept in `written`.
  local function capture(child)
    child.lua([[
      package.path = ... .. '/?.lua;' .. package.path
      _G.fake = require('fake_transport')
      b.use_transport(fake)
      b.start()
      _G.written = {}
      fake.on_reply = function(m) table.insert(_G.written, m) end
    ]], { h.dir })
  end

  local function written(child)
    return child.lua('return written')
  end

  it('routes a request to its handler and writes exactly one response', function()
    local child = new_child()
    capture(child)
    child.lua([[
      b.on_request('editor/echo', function(params, respond)
        respond(nil, { echo = params.x })
        respond(nil, { echo = 'second answer is dropped' })
      end)
      fake.send({ jsonrpc = '2.0', id = 41, method = 'editor/echo', params = { x = 5 } })
    ]])
    eq({ { jsonrpc = '2.0', id = 41, result = { echo = 5 } } }, written(child))
  end)

  it('answers later when the handler responds asynchronously', function()
    local child = new_child()
    capture(child)
    child.lua([[
      b.on_request('editor/later', function(params, respond)
        vim.defer_fn(function() respond(nil, { done = true }) end, 50)
      end)
      fake.send({ jsonrpc = '2.0', id = 7, method = 'editor/later', params = {} })
    ]])
    eq(0, child.lua('return #written'))
    child.wait('#written == 1')
    eq({ { jsonrpc = '2.0', id = 7, result = { done = true } } }, written(child))
  end)

  it('answers MethodNotFound for an unknown method and InternalError for a failing handler', function()
    local child = new_child()
    capture(child)
    child.lua([[
      b.on_request('editor/boom', function() error('kaboom') end)
      b.on_request('editor/refuse', function(_, respond) respond({ code = -32001, message = 'outside workspace' }) end)
      fake.send({ jsonrpc = '2.0', id = 1, method = 'editor/nope', params = {} })
      fake.send({ jsonrpc = '2.0', id = 2, method = 'editor/boom', params = {} })
      fake.send({ jsonrpc = '2.0', id = 3, method = 'editor/refuse', params = {} })
    ]])
    local msgs = written(child)
    eq(3, #msgs)
    eq(1, msgs[1].id)
    eq(-32601, msgs[1].error.code)
    h.matches('editor/nope', msgs[1].error.message)
    eq(2, msgs[2].id)
    eq(-32603, msgs[2].error.code)
    h.matches('kaboom', msgs[2].error.message)
    eq({ jsonrpc = '2.0', id = 3, error = { code = -32001, message = 'outside workspace' } }, msgs[3])
  end)

  it('dispatches notifications and decodes a read batch with one vim.schedule', function()
    local child = new_child()
    local r = child.lua([[
      local rpc = require('quill.rpc')
      _G.got = {}
      b.on_notification('chat/token', function(params) table.insert(_G.got, params.text) end)
      -- the real transport (on a process that writes nothing) feeding the backend's handlers
      local p = { log_file = vim.fn.tempname(), ready_waiters = {}, queue = {} }
      p.transport = require('quill.transport').spawn('sleep', { '30' }, b._handlers_of(p))
      local function token(t)
        return rpc.encode({ jsonrpc = '2.0', method = 'chat/token', params = { chatId = 'c', text = t } })
      end
      local schedules = 0
      local schedule = vim.schedule
      vim.schedule = function(fn)
        schedules = schedules + 1
        return schedule(fn)
      end
      local batch = token('a') .. token('b') .. token('c')
      local half = token('d')
      require("quill.transport")._feed(p.transport, batch .. half:sub(1, 10))
      local after_first = schedules
      require("quill.transport")._feed(p.transport, half:sub(11, 20))
      local after_partial = schedules
      require("quill.transport")._feed(p.transport, half:sub(21))
      vim.schedule = schedule
      _G.sleeper = p.transport
      return { after_first, after_partial, schedules, #_G.got }
    ]])
    eq({ 1, 1, 2, 0 }, r, 'schedules per read, and nothing dispatched synchronously')
    child.wait('#got == 2')
    -- the tokens of one chat in one batch are joined into one notification
    eq({ 'abc', 'd' }, child.lua('return got'))
    child.lua([[sleeper:kill('sigkill')]])
  end)
end)
