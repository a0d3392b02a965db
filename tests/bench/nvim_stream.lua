-- Neovim-side streaming benchmark (not a test: it prints figures).
--
--   QUILL_BACKEND=build/quill-backend FAKE_OLLAMA=build/fake-ollama \
--     nvim --headless --clean -u NONE --cmd 'set rtp^=<repo>' -c 'luafile tests/bench/nvim_stream.lua'
--
-- 1. Streams a 50,000-token answer at full speed (fake `text?tokens=50000&rate=0`) into the chat
--    buffer and measures Neovim's own CPU time (getrusage user+sys) for the whole plugin path
--    (pipe reads, framing, JSON, dispatch, appends, follow-scroll, spinner), per token.
-- 2. Appends the same 50,000 token texts with bare nvim_buf_set_text calls, per token.
-- 3. Times the plugin's per-notification work by token range: first 5,000 vs last 5,000 tokens.
-- 4. Streams at rate=1000 tokens/s with a 1 ms repeating uv timer and reports its worst lateness
--    (the longest the editor loop was blocked).
-- Env: TOKENS (default 50000), STALL_TOKENS (default 5000).
local uv = vim.uv or vim.loop
local api = vim.api

local function out(s)
  io.stdout:write(s .. '\n')
  io.stdout:flush()
end

local function fail(msg)
  out('bench failed: ' .. msg)
  vim.cmd('cq')
end

local TOKENS = tonumber(vim.env.TOKENS or '') or 50000
local STALL_TOKENS = tonumber(vim.env.STALL_TOKENS or '') or 5000
local RANGE = math.floor(TOKENS / 10)

local function cpu_us()
  local r = uv.getrusage()
  return (r.utime.sec + r.stime.sec) * 1e6 + r.utime.usec + r.stime.usec
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

local function wait(ms, cond, what)
  if not vim.wait(ms, cond, 20) then
    fail('timed out waiting for ' .. what)
  end
end

-- Fake server -----------------------------------------------------------------

local fake = vim.env.FAKE_OLLAMA
if not fake or vim.fn.executable(fake) ~= 1 then
  return fail('set FAKE_OLLAMA to the fake-ollama binary (got ' .. tostring(fake) .. ')')
end
if not vim.env.QUILL_BACKEND or vim.fn.executable(vim.env.QUILL_BACKEND) ~= 1 then
  return fail('set QUILL_BACKEND to the quill-backend binary')
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
local chat = require('quill.chat')
local stream = require('quill.stream')
local backend = require('quill.backend')

local function idle()
  return not quill.status().busy and chat.state().turn == nil
end

-- Warm-up turn: starts the backend and runs every code path once.
chat.chat('warm up')
wait(10000, idle, 'the warm-up answer')
chat.new()

-- Time each chat/token dispatch, attributed to the token range it covers.
local expected = tokens(TOKENS)
local ends = {} -- ends[i] = byte offset where token i ends
local acc = 0
for i, t in ipairs(expected) do
  acc = acc + #t
  ends[i] = acc
end
local offset, tok_index = 0, 0 -- bytes received so far, tokens completed so far
local first_ns, first_tokens, last_ns, last_tokens = 0, 0, 0, 0
local notifications = 0
stream.ensure_handler()
local on_token = stream._on_token
backend.on_notification('chat/token', function(params)
  local t0 = uv.hrtime()
  on_token(params)
  local dt = uv.hrtime() - t0
  notifications = notifications + 1
  offset = offset + #params.text
  local before = tok_index
  while tok_index < TOKENS and ends[tok_index + 1] <= offset do
    tok_index = tok_index + 1
  end
  local covered = tok_index - before
  if tok_index <= RANGE then
    first_ns, first_tokens = first_ns + dt, first_tokens + covered
  elseif before >= TOKENS - RANGE then
    last_ns, last_tokens = last_ns + dt, last_tokens + covered
  end
end)

-- 1. The plugin path ------------------------------------------------------------

require('quill.config').get().model = ('text?tokens=%d&rate=0'):format(TOKENS)
collectgarbage('collect')
local wall0 = uv.hrtime()
local cpu0 = cpu_us()
chat.chat('stream please')
wait(300000, idle, 'the benchmark answer')
local cpu_plugin = cpu_us() - cpu0
local wall_plugin = (uv.hrtime() - wall0) / 1e6

local lines = api.nvim_buf_get_lines(chat.state().buf, 6, -1, false)
-- answer + '', '## You', '', ''
local got = table.concat({ unpack(lines, 1, #lines - 4) }, '\n')
if got ~= table.concat(expected) then
  return fail(('the chat buffer does not hold the streamed text (%d vs %d bytes)'):format(#got, #table.concat(expected)))
end

-- 2. Bare appends of the same texts ---------------------------------------------------

local buf = api.nvim_create_buf(false, true)
vim.bo[buf].filetype = 'markdown'
local row, col = 0, 0
local bare_first_ns, bare_last_ns = 0, 0
collectgarbage('collect')
cpu0 = cpu_us()
for i = 1, TOKENS do
  local t0 = uv.hrtime()
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
  local dt = uv.hrtime() - t0
  if i <= RANGE then
    bare_first_ns = bare_first_ns + dt
  elseif i > TOKENS - RANGE then
    bare_last_ns = bare_last_ns + dt
  end
end
local cpu_bare = cpu_us() - cpu0

-- 4. Worst stall at rate=1000 -------------------------------------------------------

chat.new()
require('quill.config').get().model = ('text?tokens=%d&rate=1000'):format(STALL_TOKENS)
local worst_ms, ticks = 0, 0
local prev = nil
local timer = uv.new_timer()
timer:start(1, 1, function()
  local now = uv.hrtime()
  if prev then
    local late = (now - prev) / 1e6 - 1
    if late > worst_ms then
      worst_ms = late
    end
  end
  prev = now
  ticks = ticks + 1
end)
chat.chat('stream slowly')
wait(STALL_TOKENS + 30000, idle, 'the rate=1000 answer')
timer:stop()
timer:close()

-- Report --------------------------------------------------------------------------------

local plugin_us = cpu_plugin / TOKENS
local bare_us = cpu_bare / TOKENS
local first_us = first_ns / 1e3 / math.max(first_tokens, 1)
local last_us = last_ns / 1e3 / math.max(last_tokens, 1)
out(('nvim: %s'):format(tostring(vim.version and vim.version() and
  (vim.version().major .. '.' .. vim.version().minor .. '.' .. vim.version().patch))))
out(('tokens: %d'):format(TOKENS))
out(('chat/token notifications dispatched: %d'):format(notifications))
out(('wall ms, 50k-token answer: %.0f'):format(wall_plugin))
out(('plugin us/token (Neovim CPU, whole path): %.2f'):format(plugin_us))
out(('bare nvim_buf_set_text us/token (CPU): %.2f'):format(bare_us))
out(('plugin/bare ratio (target <= 1.5): %.2f'):format(plugin_us / bare_us))
out(('plugin dispatch us/token, first %d tokens: %.2f'):format(RANGE, first_us))
out(('plugin dispatch us/token, last %d tokens: %.2f'):format(RANGE, last_us))
out(('last/first ratio (target <= 1.25): %.2f'):format(last_us / first_us))
out(('bare us/token, first %d tokens: %.2f'):format(RANGE, bare_first_ns / 1e3 / RANGE))
out(('bare us/token, last %d tokens: %.2f'):format(RANGE, bare_last_ns / 1e3 / RANGE))
out(('worst 1 ms timer lateness at rate=1000, ms (target <= 16): %.2f'):format(worst_ms))
out(('timer ticks during the rate=1000 answer: %d'):format(ticks))

vim.fn.jobstop(job)
backend.stop()
vim.cmd('qa!')
