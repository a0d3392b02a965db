-- Thinking end to end: the real plugin and backend, the fake streaming a thinking model (Ollama's
-- NDJSON and the OpenAI-compatible SSE). The thinking shows as a line while it streams, then as
-- a closed fold; never as answer text, never in an inline insertion.
local h = require('harness')
local e2e = require('e2e')
local eq, ok = h.eq, h.ok

local function expected()
  local path = h.root .. '/tests/fixtures/ollama/chat-thinking.expected.json'
  return vim.json.decode(table.concat(vim.fn.readfile(path), '\n'))
end

local function wait_idle(child)
  child.wait('idle() and require("quill.chat").state().turn == nil', 10000)
end

local function thinking_rows(lines)
  local rows = {}
  for i, l in ipairs(lines) do
    if l:sub(1, 1) == '>' then
      table.insert(rows, i)
    end
  end
  return rows
end

local function check_chat(child, want)
  local lines = child.lua('return chat_lines()')
  local header
  for i, l in ipairs(lines) do
    if l:match('^Thought for %d+ s$') then
      header = i
    end
  end
  ok(header, 'a "Thought for N s" line:\n' .. table.concat(lines, '\n'))
  local rows = thinking_rows(lines)
  ok(#rows > 0, 'the thinking text is there')
  eq(header + 1, rows[1], 'under its line')
  local quoted = table.concat(vim.tbl_map(function(r)
    return (lines[r]:gsub('^> ?', ''))
  end, rows), '\n')
  eq(vim.trim(want.thinking), quoted)
  -- closed in the chat window
  local closed = child.lua([[
    local row = ...
    local win = vim.fn.bufwinid(require('quill.chat').state().buf)
    return vim.api.nvim_win_call(win, function() return vim.fn.foldclosed(row) end)
  ]], { header })
  eq(header, closed, 'the fold starts at the line and is closed')
  -- the answer is the content, exactly, after the fold
  local history = child.lua([[return require('quill.chat').history()]])
  eq(want.content, history[2].content)
  eq(want.thinking, history[2].thinking)
  local text = table.concat(lines, '\n')
  ok(text:find(want.content, 1, true), 'the answer is in the buffer')
  ok(select(2, text:gsub(vim.pesc(vim.split(want.thinking, '\n')[1]), '')) == 1, 'the thinking once, in the fold')
end

describe('thinking', function()
  it('shows Ollama thinking as a line, then a closed fold, apart from the answer', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { model = 'fixture?name=chat-thinking&rate=200' })
    child.cmd('QuillChat what is 17 x 23?')
    -- while it thinks: a live line, and the spinner says so
    child.wait([[(function()
      for _, l in ipairs(chat_lines()) do if l:match('^Thinking… %d+ s$') then return true end end
      return false
    end)() == true]], 5000)
    wait_idle(child)
    check_chat(child, expected())
  end)

  it('shows OpenAI-compatible reasoning the same way', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, {
      endpoints = { v1 = { kind = 'openai', url = url .. '/v1' } },
      endpoint = 'v1',
      model = 'fixture?name=chat-thinking',
    })
    child.cmd('QuillChat what is 17 x 23?')
    wait_idle(child)
    check_chat(child, expected())
    eq(true, e2e.fake_stats(url).last_request.stream_options.include_usage)
  end)

  it('shows nothing with show_thinking = false, and never in an inline insertion', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { model = 'fixture?name=chat-thinking', chat = { show_thinking = false } })
    child.cmd('QuillChat what is 17 x 23?')
    wait_idle(child)
    local lines = child.lua('return chat_lines()')
    eq({}, thinking_rows(lines))
    for _, l in ipairs(lines) do
      ok(not l:find('Thought for', 1, true) and not l:find('Thinking', 1, true), l)
    end
    eq(nil, e2e.fake_stats(url).last_request.streamThinking)

    child.lua([[require('quill.config').get().chat.show_thinking = true]])
    child.cmd('enew')
    child.cmd('QuillInsert compute it')
    child.wait('idle()', 10000)
    eq(expected().content, table.concat(child.lua('return lines()'), '\n'))
  end)
end)
