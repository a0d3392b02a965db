-- Neovim-side streaming benchmark (not a test: it prints figures, one per line).
--
--   QUILL_BACKEND=build/quill-backend FAKE_OLLAMA=build/fake-ollama \
--     nvim --headless --clean -u NONE --cmd 'set rtp^=<repo>' -c 'luafile tests/bench/nvim_stream.lua'
--
-- A. A 50,000-token answer at full speed (fake `text?tokens=50000&rate=0`) into the chat
--    buffer: Neovim's own CPU time (getrusage user+sys) for the whole plugin path (pipe reads,
--    framing, JSON, dispatch, appends, follow-scroll, spinner) per token, against bare
--    nvim_buf_set_text appends of the same 50,000 token texts, one call each.
-- B. The same tokens replayed one notification each through the plugin's chat/token dispatch
--    into a live chat turn: per-token time over the first vs the last 5,000 tokens (appends
--    must not get slower as the buffer grows), bare appends likewise.
-- C. An answer at rate=1000 tokens/s: CPU per token when every token is its own notification
--    (best of two runs), the same with a no-op token handler (the cost of receiving at all),
--    then a 1 ms repeating uv timer's worst lateness = the longest editor stall.
-- Env: TOKENS (default 50000), SLOW_TOKENS (default 5000).
local uv = vim.uv or vim.loop
local api = vim.api

local TOKENS = tonumber(vim.env.TOKENS or '') or 50000
local SLOW_TOKENS = tonumber(vim.env.SLOW_TOKENS or '') or 5000
local RANGE = math.floor(TOKENS / 10)

local function out(s)
  io.stdout:write(s .. '\n')
  io.stdout:flush()
end

local function cpu_us()
  local r = uv.getrusage()
  return (r.utime.sec + r.stime.sec) * 1e6 + r.utime.usec + r.stime.usec
end

local function wait(ms, cond, what)
  if not vim.wait(ms, cond, 20) then
    error('timed out waiting for ' .. what, 0)
  end
end

-- The fake's token i: "t<i>" + ('', 'é', '日本', '👋', '\n')[(i-1)%5] + ' '.
local SUFFIX = { '', 'é', '日本', '👋', '\n' }
local function tokens(n)
  local t = {}
  for i = 1, n do
    t[i] = 't' .. i .. SUFFIX[(i - 1) % 5 + 1] .. ' '
  end
  return t
end

-- CPU µs of bare appends of `texts` to a fresh scratch buffer, in one go.
local function bare(texts)
  local buf = api.nvim_create_buf(false, true)
  vim.bo[buf].filetype = 'markdown'
  local row, col = 0, 0
  collectgarbage('collect')
  local cpu0 = cpu_us()
  for i = 1, #texts do
    local text = texts[i]
    local nl = text:find('\n', 1, true)
    if nl then
      local after = text:sub(nl + 1)
      api.nvim_buf_set_text(buf, row, col, row, col, { text:sub(1, nl - 1), after })
      row, col = row + 1, #after
    else
      api.nvim_buf_set_text(buf, row, col, row, col, { text })
      col = col + #text
    end
  end
  local cpu = cpu_us() - cpu0
  api.nvim_buf_delete(buf, { force = true })
  return cpu
end

local function main()
  local fake = vim.env.FAKE_OLLAMA
  if not fake or vim.fn.executable(fake) ~= 1 then
    error('set FAKE_OLLAMA to the fake-ollama binary (got ' .. tostring(fake) .. ')', 0)
  end
  if not vim.env.QUILL_BACKEND or vim.fn.executable(vim.env.QUILL_BACKEND) ~= 1 then
    error('set QUILL_BACKEND to the quill-backend binary', 0)
  end
  local url
  local job = vim.fn.jobstart({ fake, '--port', '0', '--quiet', '--exit-on-stdin-eof' }, {
    on_stdout = function(_, data)
      for _, line in ipairs(data) do
        url = url or line:match('^listening on (http://%S+)')
      end
    end,
  })
  wait(5000, function()
    return url ~= nil
  end, 'fake-ollama')

  local quill = require('quill')
  quill.setup({ host = url, log_file = vim.fn.tempname(), model = 'text?tokens=200&rate=0' })
  local cfg = require('quill.config').get()
  local chat = require('quill.chat')
  local stream = require('quill.stream')
  local backend = require('quill.backend')
  -- vim.wait evaluates its condition after every event it processes, so it
  -- must be cheap: it runs inside the measured time.
  local state = chat.state()
  local function idle()
    return state.turn == nil
  end
  local function answer(model, prompt, ms)
    chat.new()
    cfg.model = model
    chat.chat(prompt)
    wait(ms, idle, 'the answer of ' .. model)
  end

  -- Warm-up turn: starts the backend and runs every code path once.
  answer('text?tokens=200&rate=0', 'warm up', 10000)

  -- Count and time the real dispatches.
  stream.ensure_handler()
  local on_token = stream._on_token
  local dispatches, worst_dispatch_ns = 0, 0
  backend.on_notification('chat/token', function(params)
    local t0 = uv.hrtime()
    on_token(params)
    local dt = uv.hrtime() - t0
    dispatches = dispatches + 1
    if dt > worst_dispatch_ns then
      worst_dispatch_ns = dt
    end
  end)

  -- A. Whole path at full speed ------------------------------------------------------
  local expected = tokens(TOKENS)
  chat.new()
  cfg.model = ('text?tokens=%d&rate=0'):format(TOKENS)
  collectgarbage('collect')
  local wall0, cpu0 = uv.hrtime(), cpu_us()
  chat.chat('stream please')
  wait(300000, idle, 'the full-speed answer')
  local cpu_plugin = cpu_us() - cpu0
  local wall_plugin = (uv.hrtime() - wall0) / 1e6
  -- the answer starts on line 7 and is followed by '', '## You', '', ''
  local got = table.concat(api.nvim_buf_get_lines(chat.state().buf, 6, -5, false), '\n')
  if got ~= table.concat(expected) then
    error(('the chat buffer does not hold the streamed text (%d vs %d bytes)'):format(#got, #table.concat(expected)), 0)
  end
  local full_dispatches, full_worst = dispatches, worst_dispatch_ns
  local cpu_bare = bare(expected)

  -- B. Per-token replay through the plugin's dispatch ----------------------------------
  -- A live turn (the fake hangs after 1 token) receives the tokens as if each came in its
  -- own chat/token notification, each in its own event-loop turn (as when streaming), then
  -- is cancelled. Bare appends are timed the same way. Three rounds each; medians count.
  -- fn(i) for i = 1..n, one per event-loop turn; returns the ns fn spent on the first and
  -- the last RANGE calls.
  local function each_turn(n, fn)
    local first, last, i = {}, {}, 0
    local function step()
      i = i + 1
      local t0 = uv.hrtime()
      fn(i)
      local dt = uv.hrtime() - t0
      if i <= RANGE then
        first[#first + 1] = dt
      elseif i > n - RANGE then
        last[#last + 1] = dt
      end
      if i < n then
        vim.schedule(step)
      end
    end
    collectgarbage('collect')
    vim.schedule(step)
    wait(600000, function()
      return i >= n
    end, 'the replay')
    return first, last
  end
  local function replay()
    chat.new()
    cfg.model = 'hang?after=1'
    chat.chat('replay')
    local turn = state.turn
    wait(5000, function()
      return turn.deltas > 0
    end, 'the first token of the replay turn')
    local handle = backend._handle_message
    local first, last = each_turn(TOKENS, function(i)
      handle({ jsonrpc = '2.0', method = 'chat/token', params = { chatId = turn.id, text = expected[i] } })
    end)
    chat.cancel()
    wait(5000, idle, 'the replay turn to be cancelled')
    return first, last
  end
  local function bare_replay()
    local buf = api.nvim_create_buf(false, true)
    vim.bo[buf].filetype = 'markdown'
    local row, col = 0, 0
    local first, last = each_turn(TOKENS, function(i)
      local text = expected[i]
      local nl = text:find('\n', 1, true)
      if nl then
        local after = text:sub(nl + 1)
        api.nvim_buf_set_text(buf, row, col, row, col, { text:sub(1, nl - 1), after })
        row, col = row + 1, #after
      else
        api.nvim_buf_set_text(buf, row, col, row, col, { text })
        col = col + #text
      end
    end)
    api.nvim_buf_delete(buf, { force = true })
    return first, last
  end
  -- mean and median µs of per-token samples (the median ignores GC pauses and the
  -- throttled follow-scroll, which the mean includes)
  local function summary(samples)
    local sum = 0
    for _, v in ipairs(samples) do
      sum = sum + v
    end
    table.sort(samples)
    return sum / #samples / 1e3, samples[math.floor(#samples / 2) + 1] / 1e3
  end
  -- median over rounds of each figure
  local function rounds(fn, n)
    local figures = { {}, {}, {}, {} }
    for r = 1, n do
      local first, last = fn()
      local fm, fmed = summary(first)
      local lm, lmed = summary(last)
      for k, v in ipairs({ fm, fmed, lm, lmed }) do
        figures[k][r] = v
      end
    end
    local out_ = {}
    for k = 1, 4 do
      table.sort(figures[k])
      out_[k] = figures[k][math.floor(n / 2) + 1]
    end
    return unpack(out_)
  end
  local first_us, first_med, last_us, last_med = rounds(replay, 3)
  local bare_first_us, bare_first_med, bare_last_us, bare_last_med = rounds(bare_replay, 3)

  -- C. rate=1000: CPU per token (best of two runs), then the worst stall ---------------
  local cpu_slow, slow_dispatches, slow_worst = math.huge, 0, 0
  for _ = 1, 2 do
    dispatches = 0
    worst_dispatch_ns = 0
    collectgarbage('collect')
    cpu0 = cpu_us()
    answer(('text?tokens=%d&rate=1000'):format(SLOW_TOKENS), 'slowly', SLOW_TOKENS + 30000)
    local cpu = cpu_us() - cpu0
    if cpu < cpu_slow then
      cpu_slow, slow_dispatches, slow_worst = cpu, dispatches, worst_dispatch_ns
    end
  end

  -- The floor: the same answer with a handler that ignores the tokens (pipe reads,
  -- framing, JSON, scheduling and the turn itself, but no appends).
  backend.on_notification('chat/token', function() end)
  collectgarbage('collect')
  cpu0 = cpu_us()
  answer(('text?tokens=%d&rate=1000'):format(SLOW_TOKENS), 'ignored', SLOW_TOKENS + 30000)
  local cpu_floor = cpu_us() - cpu0
  backend.on_notification('chat/token', on_token)

  local worst_ms, ticks, prev = 0, 0, nil
  local timer = uv.new_timer()
  timer:start(1, 1, function()
    local now = uv.hrtime()
    if prev then
      worst_ms = math.max(worst_ms, (now - prev) / 1e6 - 1)
    end
    prev = now
    ticks = ticks + 1
  end)
  answer(('text?tokens=%d&rate=1000'):format(SLOW_TOKENS), 'slowly again', SLOW_TOKENS + 30000)
  timer:stop()
  timer:close()

  -- Report ------------------------------------------------------------------------------
  local v = vim.version()
  local plugin_us, bare_us = cpu_plugin / TOKENS, cpu_bare / TOKENS
  out(('Neovim %d.%d.%d, %d tokens'):format(v.major, v.minor, v.patch, TOKENS))
  out(('A full speed: wall ms for the answer: %.0f'):format(wall_plugin))
  out(('A full speed: chat/token dispatches (after coalescing): %d'):format(full_dispatches))
  out(('A full speed: longest single dispatch ms: %.2f'):format(full_worst / 1e6))
  out(('A full speed: plugin us/token (Neovim CPU, whole path): %.2f'):format(plugin_us))
  out(('A full speed: bare nvim_buf_set_text us/token (CPU): %.2f'):format(bare_us))
  out(('A full speed: plugin/bare ratio (target <= 1.5): %.2f'):format(plugin_us / bare_us))
  out(('B replay: plugin us/token, first %d tokens (mean): %.2f'):format(RANGE, first_us))
  out(('B replay: plugin us/token, last %d tokens (mean): %.2f'):format(RANGE, last_us))
  out(('B replay: plugin last/first ratio, means (target <= 1.25): %.2f'):format(last_us / first_us))
  out(('B replay: plugin last/first ratio, medians: %.2f'):format(last_med / first_med))
  out(('B replay: plugin/bare ratio, one token per event-loop turn (means): %.2f'):format(
    (first_us + last_us) / (bare_first_us + bare_last_us)))
  out(('B bare: us/token, first %d tokens (mean): %.2f'):format(RANGE, bare_first_us))
  out(('B bare: us/token, last %d tokens (mean): %.2f'):format(RANGE, bare_last_us))
  out(('B bare: last/first ratio, means: %.2f'):format(bare_last_us / bare_first_us))
  out(('B bare: last/first ratio, medians: %.2f'):format(bare_last_med / bare_first_med))
  out(('C rate=1000: chat/token dispatches: %d'):format(slow_dispatches))
  out(('C rate=1000: plugin us/token (Neovim CPU, whole path): %.2f'):format(cpu_slow / SLOW_TOKENS))
  out(('C rate=1000: Neovim CPU us/token with a no-op chat/token handler (floor): %.2f'):format(
    cpu_floor / SLOW_TOKENS))
  out(('C rate=1000: longest single dispatch ms: %.3f'):format(slow_worst / 1e6))
  out(('C rate=1000: worst 1 ms timer lateness ms (target <= 16): %.2f'):format(worst_ms))
  out(('C rate=1000: timer ticks: %d'):format(ticks))

  vim.fn.jobstop(job)
  backend.stop()
end

local ok, err = xpcall(main, debug.traceback)
if not ok then
  out('bench failed: ' .. tostring(err))
  vim.cmd('cq')
end
vim.cmd('qa!')
