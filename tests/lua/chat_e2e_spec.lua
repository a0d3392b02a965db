-- End to end: the real plugin, the real quill-backend ($QUILL_BACKEND) and
-- the fake Ollama server. Scenarios are chosen through the model name.
local h = require('harness')
local e2e = require('e2e')
local eq, ok = h.eq, h.ok
local uv = vim.uv or vim.loop

local ANSWER_LINE = 7 -- first answer line of the first turn

-- A child chatting with a fresh fake server; fails clearly when the backend
-- cannot chat yet.
local function setup(opts)
  local url = e2e.start_fake()
  local child = e2e.child(url, opts)
  e2e.require_methods(child, { 'chat/send', '$/cancelRequest' })
  return child, url
end

local function wait_idle(child, ms)
  child.wait('idle() and require("quill.chat").state().turn == nil', ms or 10000)
end

local function set_model(child, model)
  child.lua([[require('quill.config').get().model = ...]], { model })
end

describe('chat end to end', function()
  it('holds exactly the streamed text after 5,000 tokens (multi-byte included)', function()
    local child, url = setup({ model = 'text?tokens=5000&rate=0' })
    child.lua('vim.o.columns = 200') -- room for the whole stats line beside the header
    child.cmd('QuillChat count')
    wait_idle(child, 30000)
    local stats = e2e.fake_stats(url)
    eq(1, stats.completed)
    local expected = table.concat(e2e.tokens(5000))
    eq(expected, stats.last_text, 'the fake streamed the documented tokens')
    local lines = child.lua('return chat_lines()')
    eq({ '## You', '', 'count', '', '## Assistant', '' }, { unpack(lines, 1, 6) })
    local text, mark = e2e.answer_text(lines, ANSWER_LINE)
    eq(nil, mark)
    ok(text == stats.last_text, ('buffer text differs from last_text (%d vs %d bytes)'):format(#text, #stats.last_text))
    local history = child.lua([[return require('quill.chat').history()]])
    eq(2, #history)
    eq(stats.last_text, history[2].content, 'the conversation holds the answer')
    -- the stats line is the backend's
    local virt = child.lua([[
      local ns = require('quill.stream').ns
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(require('quill.chat').state().buf, ns, { 4, 0 }, { 4, -1 }, { details = true })) do
        if m[4].virt_text then return m[4].virt_text[1][1] end
      end
    ]])
    h.matches('5000 tokens', virt)
    h.matches('tok/s', virt)
  end)

  it('holds exactly the text when chunks split UTF-8 characters', function()
    local child, url = setup({ model = 'split?tokens=200' })
    child.cmd('QuillChat split')
    wait_idle(child, 20000)
    local stats = e2e.fake_stats(url)
    local text = e2e.answer_text(child.lua('return chat_lines()'), ANSWER_LINE)
    eq(stats.last_text, text)
    eq(table.concat(e2e.tokens(200)), text)
  end)

  it('follows while the cursor is at the bottom and leaves a user who moved up alone', function()
    local child = setup({ model = 'text?tokens=600&rate=300' })
    child.cmd('QuillChat follow')
    child.wait([[((require('quill').status().chats['chat-1'] or {}).chars or 0) > 100]], 10000)
    -- the cursor catches up with the end (follow-scroll is throttled to every 20 ms)
    local lines_now = child.lua('return vim.api.nvim_buf_line_count(0)')
    child.wait('vim.api.nvim_win_get_cursor(0)[1] >= ' .. lines_now, 1000)
    wait_idle(child, 20000)
    local last = child.lua('return { vim.api.nvim_win_get_cursor(0)[1], vim.api.nvim_buf_line_count(0), vim.fn.line("w$") }')
    eq(last[2], last[1], 'cursor on the last line at the end')
    eq(last[2], last[3], 'the last line is visible')

    -- second turn: the user moves up while it streams
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'again' })]])
    child.lua([[require('quill.chat').send()]])
    child.wait([[((require('quill').status().chats['chat-2'] or {}).chars or 0) > 100]], 10000)
    child.lua('vim.api.nvim_win_set_cursor(0, { 2, 0 })')
    local top = child.lua('return vim.fn.line("w0")')
    wait_idle(child, 20000)
    eq({ 2, 0 }, child.lua('return vim.api.nvim_win_get_cursor(0)'), 'cursor left where the user put it')
    eq(top, child.lua('return vim.fn.line("w0")'), 'view not scrolled')
  end)

  it('cancel keeps the partial text with a mark, and the server sees the abort', function()
    local child, url = setup({ model = 'hang?after=5' })
    child.cmd('QuillChat wait')
    child.wait([[((require('quill').status().chats['chat-1'] or {}).chars or 0) > 0]], 10000)
    -- all 5 tokens are in once the fake hangs
    local partial = table.concat(e2e.tokens(5))
    child.wait(('require("quill").status().chats["chat-1"].chars == %d'):format(vim.fn.strchars(partial)), 5000)
    child.input('<C-c>')
    wait_idle(child, 5000)
    local text, mark = e2e.answer_text(child.lua('return chat_lines()'), ANSWER_LINE)
    eq(partial, text)
    eq('[cancelled]', mark)
    h.wait_for(function()
      return e2e.fake_stats(url).aborted == 1
    end, 5000, 'the fake to count the aborted request')
    local stats = e2e.fake_stats(url)
    eq(partial, stats.last_text)
    eq({ 0, 0 }, { stats.completed, stats.active })
    local history = child.lua([[return require('quill.chat').history()]])
    eq({ role = 'assistant', content = partial }, { role = history[2].role, content = history[2].content })
    -- continuing sends the partial answer along
    set_model(child, 'text?tokens=3')
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'go on' })]])
    child.lua([[require('quill.chat').send()]])
    wait_idle(child)
    local req = e2e.fake_stats(url).last_request
    local contents = {}
    for _, m in ipairs(req.messages) do
      table.insert(contents, m.role .. ':' .. m.content)
    end
    eq({ 'user:wait', 'assistant:' .. partial, 'user:go on' }, contents)
  end)

  local failures = {
    {
      name = 'an error line mid-stream',
      model = 'error?after=10&message=the+model+runner+crashed',
      partial = 10,
      mark = '^%[interrupted: the model runner crashed%]$',
    },
    { name = 'a dropped connection', model = 'drop?after=10', partial = 10, mark = '^%[interrupted: .+%]$' },
    { name = 'a garbage line', model = 'garbage?after=10', partial = 10, mark = '^%[interrupted: bad stream from Ollama: .+%]$' },
    { name = 'HTTP 503', model = 'status?code=503', partial = 0, mark = '^%[error: Ollama answered HTTP 503: server busy.*%]$' },
    {
      name = 'a model that is not installed',
      model = 'missing',
      partial = 0,
      mark = "^%[error: model 'missing' not found — run `ollama pull missing`%]$",
    },
    {
      name = 'the idle timeout',
      model = 'hang?after=5',
      partial = 5,
      mark = '^%[interrupted: timed out after .+%]$',
      opts = { timeouts = { idle_ms = 500 } },
    },
  }
  for _, f in ipairs(failures) do
    it('shows ' .. f.name .. ' and keeps the partial text', function()
      local child, url = setup(vim.tbl_extend('force', { model = f.model }, f.opts or {}))
      child.cmd('QuillChat fail')
      wait_idle(child, 15000)
      local lines = child.lua('return chat_lines()')
      local text, mark = e2e.answer_text(lines, ANSWER_LINE)
      local partial = table.concat(e2e.tokens(f.partial))
      eq(partial, text, 'partial text kept')
      ok(mark, 'an end mark:\n' .. table.concat(lines, '\n'))
      h.matches(f.mark, mark)
      if f.partial > 0 then
        eq(partial, e2e.fake_stats(url).last_text)
        local history = child.lua([[return require('quill.chat').history()]])
        eq(partial, history[#history].content, 'the partial answer is in the conversation')
      else
        eq('fail', lines[#lines], 'the prompt is given back')
      end
    end)
  end

  it('shows unreachable Ollama with the hint to run ollama serve', function()
    -- a port nobody listens on: bind, note it, close
    local tcp = uv.new_tcp()
    tcp:bind('127.0.0.1', 0)
    local port = tcp:getsockname().port
    tcp:close()
    local child = e2e.child('http://127.0.0.1:' .. port, { model = 'text' })
    e2e.require_methods(child, { 'chat/send' })
    child.cmd('QuillChat hello')
    wait_idle(child, 15000)
    local _, mark = e2e.answer_text(child.lua('return chat_lines()'), ANSWER_LINE)
    h.matches('^%[error: Ollama is not reachable at http://127%.0%.0%.1:' .. port .. '.*ollama serve.*%]$', mark)
  end)

  it('a killed backend loses nothing shown, and the next question works', function()
    local child, url = setup({ model = 'hang?after=5' })
    child.cmd('QuillChat first')
    local partial = table.concat(e2e.tokens(5))
    child.wait(('((require("quill").status().chats["chat-1"] or {}).chars or 0) == %d'):format(vim.fn.strchars(partial)),
      10000)
    local pid = child.lua([[return require('quill.backend').info().pid]])
    eq(0, e2e.kill(pid))
    wait_idle(child, 5000)
    local text, mark = e2e.answer_text(child.lua('return chat_lines()'), ANSWER_LINE)
    eq(partial, text)
    h.matches('^%[interrupted: quill backend exited %(.*signal 9%)%]$', mark)
    set_model(child, 'text?tokens=12')
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'second' })]])
    child.lua([[require('quill.chat').send()]])
    wait_idle(child, 10000)
    local text2, mark2 = e2e.answer_text(child.lua('return chat_lines()'), 1)
    eq(nil, mark2)
    ok(text2:sub(-#table.concat(e2e.tokens(12))) == table.concat(e2e.tokens(12)), 'second answer shown')
    local info = child.lua([[return require('quill.backend').info()]])
    eq(1, info.restarts)
    h.neq(pid, info.pid)
    local req = e2e.fake_stats(url).last_request
    eq({ 'user', 'assistant', 'user' }, vim.tbl_map(function(m)
      return m.role
    end, req.messages))
    eq(partial, req.messages[2].content, 'the shown text went back to the model')
  end)
end)

describe('inline end to end', function()
  it(':QuillInsert lands at the right place while the user edits elsewhere; one u removes it', function()
    local child, url = setup({ model = 'text?tokens=400&rate=400' })
    child.lua([[
      vim.bo.filetype = 'python'
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def a():', '    pass', '', 'def b():', '    pass' })
      vim.cmd('let &g:undolevels = &g:undolevels')
      vim.api.nvim_win_set_cursor(0, { 3, 0 })
    ]])
    child.cmd('QuillInsert write c')
    child.wait([[((require('quill').status().chats['inline-1'] or {}).chars or 0) > 20]], 10000)
    -- edits above and below the insertion point while it streams
    child.input('ggOimport os<Esc>Gopass # end<Esc>')
    wait_idle(child, 15000)
    local stats = e2e.fake_stats(url)
    eq(table.concat(e2e.tokens(400)), stats.last_text)
    local lines = child.lua('return lines()')
    local inserted = vim.split(stats.last_text, '\n', { plain = true })
    local expected = { 'import os', 'def a():', '    pass' }
    vim.list_extend(expected, inserted)
    vim.list_extend(expected, { 'def b():', '    pass', 'pass # end' })
    eq(expected, lines)
    child.input('u')
    child.wait('#lines() == 7')
    eq({ 'import os', 'def a():', '    pass', '', 'def b():', '    pass', 'pass # end' }, child.lua('return lines()'))
    local p = stats.last_request.messages[1].content
    h.matches('a python file', p)
    h.matches('def b', p)
  end)

  it(':QuillInsert over a range replaces it, cancel keeps the partial text', function()
    local child, url = setup({ model = 'hang?after=5' })
    child.lua([[
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'keep', 'old 1', 'old 2', 'keep too' })
      vim.cmd('let &g:undolevels = &g:undolevels')
    ]])
    child.cmd('2,3QuillInsert rewrite')
    local partial = table.concat(e2e.tokens(5))
    child.wait(('((require("quill").status().chats["inline-1"] or {}).chars or 0) == %d'):format(vim.fn.strchars(partial)),
      10000)
    child.input('<C-c>')
    wait_idle(child, 5000)
    local expected = { 'keep' }
    vim.list_extend(expected, vim.split(partial, '\n', { plain = true }))
    table.insert(expected, 'keep too')
    eq(expected, child.lua('return lines()'))
    h.wait_for(function()
      return e2e.fake_stats(url).aborted == 1
    end, 5000, 'the fake to count the aborted request')
    eq('', child.lua([[return vim.fn.maparg('<C-c>', 'n')]]), 'cancel map removed')
    child.input('u')
    child.wait('#lines() == 4')
    eq({ 'keep', 'old 1', 'old 2', 'keep too' }, child.lua('return lines()'))
  end)
end)
