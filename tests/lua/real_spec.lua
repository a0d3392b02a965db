-- The whole plugin against a real OpenAI-compatible server: llama.cpp's llama-server with a
-- generated tiny model (../shared/tools/llama-real/serve, see its README). What the user sees in
-- the chat, for a streamed answer and for the server's own refusal. Skipped, saying so, when the
-- tool is not there or cannot be installed here.
local h = require('harness')
local e2e = require('e2e')
local eq, ok = h.eq, h.ok

-- `<|im_end|>` of the Qwen3 tokenizer: biased away, the answer runs to max_tokens exactly
local IM_END = '151645'

local function serve_path()
  local env = vim.env.QUILL_LLAMA_REAL
  return env and env ~= '' and env or (h.root .. '/../shared/tools/llama-real/serve')
end

-- Starts one llama-server for this test; nil and the reason when it cannot run here.
local function start_server()
  local serve = serve_path()
  if vim.fn.executable(serve) ~= 1 then
    return nil, 'llama-real is not here (' .. serve .. ')'
  end
  local log = vim.fn.tempname()
  local out = vim.fn.system({ 'env', 'LLAMA_REAL_LOG=' .. log, serve, '0' })
  if vim.v.shell_error == 3 then
    return nil, 'llama-real unavailable here: ' .. out
  end
  local port, pid = out:match('listening on (%d+)'), out:match('pid (%d+)')
  assert(vim.v.shell_error == 0 and port and pid, 'llama-real did not start: ' .. out)
  h.cleanup(function()
    (vim.uv or vim.loop).kill(tonumber(pid), 'sigterm')
  end)
  return 'http://127.0.0.1:' .. port .. '/v1'
end

-- The same request, not streamed, straight to the server: its answer text.
local function unstreamed(url, body)
  body.stream = false
  local out = vim.fn.system({ 'curl', '-s', '--max-time', '60', '-H', 'Content-Type: application/json',
    '--data-binary', '@-', url .. '/chat/completions' }, vim.json.encode(body))
  assert(vim.v.shell_error == 0, 'curl failed: ' .. out)
  return vim.json.decode(out).choices[1].message.content
end

local function real_child(url, opts)
  return e2e.child(url, vim.tbl_extend('force', {
    endpoints = { real = { kind = 'openai', url = url, tools = false } },
    endpoint = 'real',
    model = 'tiny',
  }, opts or {}))
end

local function wait_idle(child)
  child.wait('idle() and require("quill.chat").state().turn == nil', 60000)
end

-- nil, or why this suite cannot run here (then it says "SKIPPED", and CTest reports it so)
local function skip_reason()
  if vim.fn.executable(serve_path()) ~= 1 then
    return 'llama-real is not here (' .. serve_path() .. ')'
  end
end

if skip_reason() then
  h.say('SKIPPED real_spec: ' .. skip_reason())
  return
end

-- A server for one test, or nil after saying why it is skipped (the tool could not install).
local function server_or_skip()
  local url, why = start_server()
  if not url then
    h.say('SKIPPED: ' .. why)
  end
  return url
end

describe('a real llama-server', function()
  it('streams into the chat exactly the text the same request answers unstreamed', function()
    local url = server_or_skip()
    if not url then
      return
    end
    local options = { seed = 7, max_tokens = 24, logit_bias = { [IM_END] = -100 } }
    local child = real_child(url, { endpoints = { real = { kind = 'openai', url = url, tools = false,
      options = options } } })
    child.cmd('QuillChat Hello there')
    wait_idle(child)
    local lines = child.lua('return chat_lines()')
    local text, mark = e2e.answer_text(lines, 7)
    local want = unstreamed(url, vim.tbl_extend('force', {
      messages = { { role = 'user', content = 'Hello there' } } }, options))
    eq(want, text)
    eq('[stopped: length limit reached]', mark, 'max_tokens reached: finish_reason length')
  end)

  it("shows the server's own words for a prompt over its context, and gives the prompt back", function()
    local url = server_or_skip()
    if not url then
      return
    end
    -- tools offered (tools = 'auto'): a refusal that is not about tools is not asked again
    local child = real_child(url, { endpoints = { real = { kind = 'openai', url = url } } })
    local prompt = vim.trim(string.rep('word ', 5000))
    child.cmd('QuillChat ' .. prompt)
    wait_idle(child)
    local lines = child.lua('return chat_lines()')
    local err
    for _, l in ipairs(lines) do
      err = err or (l:find('^%[error: ') and l)
    end
    ok(err, table.concat(lines, '\n'):sub(1, 2000))
    h.matches('HTTP 400', err)
    h.matches('exceeds the available context size', err)
    eq(prompt, lines[#lines], 'the prompt is back under ## You, to edit and send again')
  end)
end)
