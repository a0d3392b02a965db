-- A server that never stops: the turn ends at chat.max_answer_bytes with a visible mark, and
-- what was shown stays (real backend, fake Ollama).
local h = require('harness')
local e2e = require('e2e')
local eq, ok = h.eq, h.ok

local ANSWER_LINE = 7 -- first answer line of the first turn

local function chat(model)
  local url = e2e.start_fake()
  local child = e2e.child(url, { model = model, chat = { max_answer_bytes = 65536 } })
  e2e.require_methods(child, { 'chat/send' })
  child.cmd('QuillChat go on')
  child.wait('idle() and require("quill.chat").state().turn == nil', 20000)
  return child, url
end

describe('answer limit', function()
  it('stops an endless answer at chat.max_answer_bytes, keeping the text, with a mark', function()
    local child, url = chat('endless')
    local text, mark = e2e.answer_text(child.lua('return chat_lines()'), ANSWER_LINE)
    eq('[stopped: answer exceeded 64 KiB]', mark)
    eq(65536, #text)
    ok(text:find('^endless endless '), text:sub(1, 40))
    local history = child.lua([[return require('quill.chat').history()]])
    eq(text, history[#history].content, 'the conversation keeps what was shown')
    eq(1, e2e.fake_stats(url).aborted, 'the connection was closed')
  end)

  it('stops endless thinking too, instead of waiting for a first token forever', function()
    local child = chat('endless?field=thinking')
    local lines = child.lua('return chat_lines()')
    local _, mark = e2e.answer_text(lines, ANSWER_LINE)
    eq('[stopped: thinking exceeded 64 KiB]', mark, vim.inspect(lines))
  end)

  it('is a validated option', function()
    local config = require('quill.config')
    eq(4194304, config.defaults().chat.max_answer_bytes)
    local okay, err = pcall(config.setup, { chat = { max_answer_bytes = 0 } })
    eq(false, okay)
    h.matches('chat.max_answer_bytes', err)
    config.setup({})
  end)
end)
