-- The chat split with a stubbed backend (see stub.lua): rendering, streaming,
-- follow-scroll, spinner, stats, cancel, errors, conversation, commands.
local h = require('harness')
local stub = require('stub')
local eq, ok = h.eq, h.ok

local STATS_LINE = 'llama3.2 · first token 0.25 s · 7 tokens · 10.0 tok/s · 1.50 s'

-- virt_text of the extmarks in the quill namespace on `row`, joined.
local function virt_text(child, row)
  return child.lua([[
    local row = ...
    local ns = require('quill.stream').ns
    local out = {}
    for _, m in ipairs(vim.api.nvim_buf_get_extmarks(require('quill.chat').state().buf, ns, { row, 0 }, { row, -1 }, { details = true })) do
      for _, chunk in ipairs(m[4].virt_text or {}) do
        table.insert(out, chunk[1] .. '|' .. chunk[2])
      end
    end
    return table.concat(out, ' ')
  ]], { row })
end

local function chat_lines(child)
  return child.lua("return lines(require('quill.chat').state().buf)")
end

-- The syntax group at (row, col), 1-based, in the current window.
local function syn_group(child, row, col)
  return child.lua('return vim.fn.synIDattr(vim.fn.synID(...), "name")', { row, col, 1 })
end

-- `:QuillChat prompt`, answered with `text` (the first turn: chat-1, request 1).
local function finished_turn(child, prompt, text)
  child.cmd('QuillChat ' .. prompt)
  child.lua('tok("chat-1", ...)', { text })
  child.lua('answer(1, nil, done("chat-1", ...))', { text })
end

describe('chat buffer', function()
  it(':QuillChat opens a markdown split quill://chat and sends the prompt', function()
    local child = stub.child()
    eq(1, child.lua('return #vim.api.nvim_list_wins()'))
    child.cmd('QuillChat Explain   this, please')
    local info = child.lua([[
      local buf = vim.api.nvim_get_current_buf()
      return { name = vim.api.nvim_buf_get_name(buf), ft = vim.bo[buf].filetype, bt = vim.bo[buf].buftype,
        wins = #vim.api.nvim_list_wins(), chat = require('quill.chat').state().buf == buf,
        width = vim.api.nvim_win_get_width(0), cursor = vim.api.nvim_win_get_cursor(0) }
    ]])
    h.matches('^quill://chat/%d+%-%d+%-%x+$', info.name)
    eq('markdown', info.ft)
    eq('nofile', info.bt)
    eq(2, info.wins)
    eq(true, info.chat)
    eq({ '## You', '', 'Explain   this, please', '', '## Assistant', '', '' }, child.lua('return lines()'))
    eq({ 5, 0 }, info.cursor, 'cursor waits on the answer header')
    eq('chat/send', child.lua('return reqs[1].method'))
    eq({ chatId = 'chat-1', model = 'llama3.2', messages = { { role = 'user', content = 'Explain   this, please' } },
      maxAnswerBytes = 4194304, endpoint = 'ollama', streamThinking = true }, child.lua('return params(1)'),
      'no options, system or tools by default')
    -- :QuillChat again focuses the same window, no new split
    child.cmd('wincmd p')
    child.cmd('QuillChat')
    eq({ 2, true }, child.lua([[return { #vim.api.nvim_list_wins(),
      vim.api.nvim_get_current_buf() == require('quill.chat').state().buf }]]))
  end)

  it('a new chat shows a dimmed hint on how to send, gone at the first change', function()
    local child = stub.child()
    child.cmd('QuillChat')
    local function hint()
      return child.lua([[
        local ns = vim.api.nvim_get_namespaces().quill_chat_hint
        local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
        return marks[1] and { marks[1][2], marks[1][4].virt_text[1][1], marks[1][4].virt_text[1][2] } or vim.NIL
      ]])
    end
    eq({ 2, 'ask here · <CR> sends (<C-s> in Insert) · g? keys', 'Comment' }, hint())
    child.type('ihello<Esc>')
    eq(vim.NIL, hint())
    -- a conversation that has turns shows none; :QuillNew brings it back
    child.lua([[require('quill.chat').send()]])
    child.lua([[answer(1, nil, done('chat-1', 'hi'))]])
    eq(vim.NIL, hint())
    child.cmd('QuillNew')
    eq(2, hint()[1])
  end)

  it('q closes the chat window and g? lists its keys, each with a description', function()
    local child = stub.child()
    child.cmd('QuillChat')
    child.input('g?')
    child.wait('#_G.notes > 0')
    local text = child.lua('return _G.notes[1].msg'):lower()
    for _, want in ipairs({ 'normal <cr>', 'insert <c%-s>', 'normal <c%-c>', 'normal q ', 'normal g%? ',
      'normal %]%] ', 'normal %[%[ ', 'normal gy ' }) do
      h.matches(want, text, 'g? lists ' .. want)
    end
    eq(2, child.lua('return #vim.api.nvim_list_wins()'))
    child.input('q')
    child.wait('#vim.api.nvim_list_wins() == 1')
    eq(false, child.lua([[return vim.api.nvim_get_current_buf() == require('quill.chat').state().buf]]))
    -- the chat as the only window: q stays and says why
    child.cmd('QuillChat')
    child.cmd('only')
    child.lua('_G.notes = {}')
    child.input('q')
    child.wait('#_G.notes > 0')
    eq(1, child.lua('return #vim.api.nvim_list_wins()'))
    h.matches('only window', child.lua('return _G.notes[1].msg'))
  end)

  it(']] and [[ move between turns; gy yanks the code block under the cursor', function()
    local child = stub.child()
    child.cmd('QuillChat first')
    child.lua([[tok('chat-1', 'Try:\n\n```lua\nlocal a = 1\nprint(a)\n```\n\nDone.')]])
    child.lua([[answer(1, nil, done('chat-1', 'x'))]])
    -- 1 ## You, 5 ## Assistant, 9 ```lua, 10 local a = 1, 11 print(a), 12 ```, 16 ## You
    local function cursor()
      return child.lua('return vim.api.nvim_win_get_cursor(0)[1]')
    end
    child.lua('vim.api.nvim_win_set_cursor(0, { 1, 0 })')
    child.type(']]')
    eq(5, cursor())
    child.type(']]')
    eq(16, cursor())
    child.type('2[[')
    eq(1, cursor())
    child.type(']]]]') -- nothing after the last: stays
    child.type(']]')
    eq(16, cursor())
    child.lua('vim.api.nvim_win_set_cursor(0, { 11, 2 })')
    child.type('gy')
    eq({ 'local a = 1\nprint(a)\n', 'V' }, child.lua([[return { vim.fn.getreg('"'), vim.fn.getregtype('"') }]]))
    child.type('"agy')
    eq('local a = 1\nprint(a)\n', child.lua([[return vim.fn.getreg('a')]]))
    child.lua('_G.notes = {}')
    child.lua('vim.api.nvim_win_set_cursor(0, { 14, 0 })')
    child.type('gy')
    h.matches('not in a fenced code block', child.lua('return _G.notes[1].msg'))
  end)

  it(':QuillChat from another tab opens the chat in that tab instead of jumping away', function()
    local child = stub.child()
    child.cmd('QuillChat')
    child.cmd('tabnew')
    local tab = child.lua('return vim.api.nvim_get_current_tabpage()')
    child.cmd('QuillChat')
    eq(tab, child.lua('return vim.api.nvim_get_current_tabpage()'), 'still in the second tab')
    eq(true, child.lua([[return vim.api.nvim_get_current_buf() == require('quill.chat').state().buf]]))
    eq(2, child.lua('return #vim.api.nvim_tabpage_list_wins(0)'))
    -- and the answer follows there
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'q' })]])
    child.lua([[require('quill.chat').send()]])
    child.lua([[tok('chat-1', string.rep('line\n', 60) .. 'end')]])
    child.wait('vim.fn.line("w$") == vim.fn.line("$")', 1000)
  end)

  it('keeps following while its tab is not current', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.cmd('tabnew')
    for i = 1, 40 do
      child.lua('tok("chat-1", ...)', { ('line %d\n'):format(i) })
      child.lua('vim.wait(20)') -- each its own render
    end
    child.cmd('tabprevious')
    local function at_end()
      return child.lua([[
        local w = require('quill.chat').state().win
        local last = vim.api.nvim_buf_line_count(vim.api.nvim_win_get_buf(w))
        return vim.api.nvim_win_get_cursor(w)[1] >= last - 1 and vim.fn.line('w$', w) == last
      ]])
    end
    eq(true, at_end(), 'at the end on coming back')
    for i = 41, 60 do
      child.lua('tok("chat-1", ...)', { ('line %d\n'):format(i) })
      child.lua('vim.wait(20)')
    end
    eq(true, at_end(), 'and still following')
  end)

  it('sizes the chat as a fraction of the screen, never squeezing the other windows', function()
    local child = stub.child()
    child.lua('vim.o.columns = 90')
    child.cmd('QuillChat')
    local widths = child.lua([[return vim.tbl_map(vim.api.nvim_win_get_width, vim.api.nvim_tabpage_list_wins(0))]])
    eq(2, #widths)
    eq(36, child.lua('return vim.api.nvim_win_get_width(0)'), '0.4 of 90 columns')
    ok(math.min(widths[1], widths[2]) >= 36)
    -- a fixed size bigger than the screen allows still leaves 40 columns
    child.cmd('close')
    child.lua([[require('quill').setup({ chat = { size = 80 } })]])
    child.cmd('QuillChat')
    eq(50, child.lua('return vim.api.nvim_win_get_width(0)'))
    -- a small fraction is raised to a readable minimum
    child.cmd('close')
    child.lua([[require('quill').setup({ chat = { size = 0.1 } })]])
    child.cmd('QuillChat')
    eq(30, child.lua('return vim.api.nvim_win_get_width(0)'))
  end)

  it('fenced code gets its language\'s highlighting as it streams; unknown or hostile names do not', function()
    local child = stub.child()
    child.cmd('QuillChat code')
    child.lua([[tok('chat-1', 'Here:\n\n``')]])
    child.lua([[tok('chat-1', '`lua\nlocal x = 1\n')]]) -- the fence split over two renders
    child.wait([[#lines() >= 10]])
    local function group(row, col)
      return syn_group(child, row, col)
    end
    h.matches('^lua', group(10, 1), 'lua while it streams')
    child.lua([[tok('chat-1', '```\n\n```nosuchlanguage\nx = 1\n```\n\n```../../evil\ny\n```\n')]])
    child.lua([[answer(1, nil, done('chat-1', table.concat(vim.api.nvim_buf_get_lines(0, 6, 19, false), '\n')))]])
    local lines = child.lua('return lines()')
    eq('```nosuchlanguage', lines[13])
    eq('quillchatFence', group(14, 1))
    eq('```../../evil', lines[17])
    eq('quillchatFence', group(18, 1))
    eq('quillchatFenceDelim', group(9, 1))
    -- the history rebuilt into a new buffer highlights its fences too
    child.lua([[vim.api.nvim_buf_delete(require('quill.chat').state().buf, { force = true })]])
    child.cmd('QuillChat')
    h.matches('^lua', group(10, 1), 'after a rebuild')
  end)

  it('a buffer takes at most MAX_LANGUAGES languages, that many and no more', function()
    local child = stub.child()
    child.lua([[require('quill.fences').MAX_LANGUAGES = 2]])
    child.cmd('QuillChat code')
    child.lua([[tok('chat-1', '```lua\nlocal x = 1\n```\n\n```python\nimport os\n```\n\n```vim\nset nu\n```\n')]])
    child.lua([[answer(1, nil, done('chat-1', 'x'))]])
    local function group(row, col)
      return syn_group(child, row, col)
    end
    -- 8 local x = 1, 12 import os, 16 set nu
    h.matches('^lua', group(8, 1))
    h.matches('^python', group(12, 1), 'the second language is still taken')
    eq('quillchatFence', group(16, 1), 'the third is not')
  end)

  -- A hostile model naming thousands of made-up languages.
  it('fence names are looked up on the runtimepath at most MAX_LOOKUPS times per chat', function()
    local child = stub.child()
    child.lua([[
      _G.lookups = 0
      local real = vim.api.nvim_get_runtime_file
      vim.api.nvim_get_runtime_file = function(name, all)
        if name:find('^syntax/') then _G.lookups = _G.lookups + 1 end
        return real(name, all)
      end
    ]])
    child.cmd('QuillChat code')
    child.lua([[
      local parts = {}
      for i = 1, 2000 do parts[#parts + 1] = '```lang' .. i .. '\nx\n```\n' end
      tok('chat-1', table.concat(parts))
    ]])
    child.lua([[answer(1, nil, done('chat-1', 'x'))]])
    eq(32, child.lua('return _G.lookups'))
  end)

  it('gy on a fence line yanks the block it opens or closes', function()
    local child = stub.child()
    child.cmd('QuillChat first')
    child.lua([[tok('chat-1', 'Try:\n\n```lua\nlocal a = 1\n```\n\nDone.')]])
    child.lua([[answer(1, nil, done('chat-1', 'x'))]])
    -- 9 ```lua, 10 local a = 1, 11 ```
    for _, row in ipairs({ 9, 11 }) do
      child.lua('vim.fn.setreg(\'"\', "")')
      child.lua('vim.api.nvim_win_set_cursor(0, { ' .. row .. ', 0 })')
      child.type('gy')
      eq('local a = 1\n', child.lua([[return vim.fn.getreg('"')]]), 'on row ' .. row)
    end
  end)

  it('statusline(): a review waiting while an answer streams is one more part', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', 'a', 'b', 'c')]])
    child.lua([[require('quill.review').confirm('c', 'quill: edit a?', { '+a' }, nil, function() end)]])
    h.matches('^quill %S+ llama3%.2 3 tok · review$', child.lua([[return require('quill').statusline()]]))
  end)

  it('sends model, options and system prompt from the config', function()
    local child = stub.child()
    child.lua([[require('quill').setup({ model = 'qwen3:8b', system_prompt = 'Be brief.',
      options = { temperature = 0.2 }, chat = { position = 'bottom', size = 10 } })]])
    child.cmd('QuillChat hi')
    local p = child.lua('return params(1)')
    eq('qwen3:8b', p.model)
    eq('Be brief.', p.system)
    eq({ temperature = 0.2 }, p.options)
    eq(nil, p.tools)
    eq(10, child.lua('return vim.api.nvim_win_get_height(0)'))
  end)

  it('highlights with the light quillchat syntax, or markdown when asked', function()
    local child = stub.child()
    child.cmd('syntax on')
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', '# Title\n\nsome `code` and **bold**\n```lua\nx = 1\n```\n')]])
    child.wait([[vim.api.nvim_buf_line_count(0) >= 12]])
    local function group(row, col)
      return syn_group(child, row, col)
    end
    eq('markdown', child.lua('return vim.bo.filetype'))
    eq('quillchat', child.lua('return vim.b.current_syntax'))
    eq('quillchatHeader', group(1, 1))
    eq('quillchatHeader', group(7, 1))
    eq('quillchatCode', group(9, 7))
    eq('quillchatBold', group(9, 20))
    eq('quillchatFenceLang', group(11, 1), 'lua code: its own highlighting, not one colour')
    local other = stub.child()
    other.cmd('syntax on')
    other.lua([[require('quill').setup({ chat = { syntax = 'markdown' } })]])
    other.cmd('QuillChat q')
    eq('markdown', other.lua('return vim.b.current_syntax'))
  end)

  it('appends multi-byte text and newlines from tokens exactly', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', 'Grüße, ', '世界', '! 🚀\n', '\n', '- a\n- b', '', 'é', '\n\n```lua\nx = 1\n```')]])
    -- the first token shows at once, the rest at the next frame
    child.wait([[#lines(require('quill.chat').state().buf) == 14]])
    eq({ '## You', '', 'q', '', '## Assistant', '', 'Grüße, 世界! 🚀', '', '- a', '- bé', '', '```lua', 'x = 1', '```' },
      chat_lines(child))
    -- a token for another chat id is not ours
    child.lua([[tok('chat-99', 'nope')]])
    eq('```', chat_lines(child)[14])
  end)

  it('joins the tokens of one read batch into one append, and renders at most once per frame', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    local r = child.lua([[
      local b = require('quill.backend')
      _G.appends = 0
      local api_set = vim.api.nvim_buf_set_text
      vim.api.nvim_buf_set_text = function(...) _G.appends = _G.appends + 1 return api_set(...) end
      local msgs = {}
      for _, t in ipairs({ 'a', 'b\n', 'c' }) do
        table.insert(msgs, { jsonrpc = '2.0', method = 'chat/token', params = { chatId = 'chat-1', text = t } })
      end
      table.insert(msgs, { jsonrpc = '2.0', method = 'log', params = { level = 'info', message = 'x' } })
      table.insert(msgs, { jsonrpc = '2.0', method = 'chat/token', params = { chatId = 'chat-1', text = 'd' } })
      fake.send(unpack(msgs)) -- one read
      return { n = _G.appends, status = require('quill').status().chats['chat-1'] }
    ]])
    eq(1, r.n, 'a, b, c at once: the stream was idle')
    eq(4, r.status.tokens, 'the merged pieces still count')
    eq(5, r.status.chars)
    eq({ 'ab', 'c' }, { unpack(chat_lines(child), 7, 8) }, 'd waits for the next frame')
    child.wait([[_G.appends == 2]])
    eq({ 'ab', 'cd' }, { unpack(chat_lines(child), 7, 8) })
    -- a burst of separate notifications within one frame: one more append
    child.lua([[for i = 1, 20 do tok('chat-1', tostring(i % 10)) end]])
    child.wait([[_G.appends == 3]])
    eq('cd12345678901234567890', chat_lines(child)[8])
    vim.wait(100)
    eq(3, child.lua('return _G.appends'), 'nothing left to render')
    -- the backend paces: one notification may join many deltas, and says how many
    local tokens = child.lua([[
      fake.send({ jsonrpc = '2.0', method = 'chat/token', params = { chatId = 'chat-1', text = 'e', deltas = 6 } })
      return require('quill').status().chats['chat-1'].tokens
    ]])
    eq(4 + 20 + 6, tokens)
  end)

  it('joins only neighbouring tokens of the same chat, keeping the order', function()
    local b = require('quill.backend')
    local function tok(id, text)
      return { jsonrpc = '2.0', method = 'chat/token', params = { chatId = id, text = text } }
    end
    local log = { jsonrpc = '2.0', method = 'log', params = { level = 'info', message = 'x' } }
    local resp = { jsonrpc = '2.0', id = 4, result = { chatId = 'A' } }
    local got = b._join_tokens({ tok('A', '1'), tok('A', '2'), tok('B', '3'), tok('A', '4'), log, tok('A', '5'),
      tok('A', '6'), tok('A', '7'), resp, tok('B', '8') })
    local flat = vim.tbl_map(function(m)
      if m.method == 'chat/token' then
        return m.params.chatId .. ':' .. m.params.text .. ':' .. tostring(m.params.deltas or 1)
      end
      return m.method or ('response ' .. m.id)
    end, got)
    eq({ 'A:12:2', 'B:3:1', 'A:4:1', 'log', 'A:567:3', 'response 4', 'B:8:1' }, flat)
    -- the backend's own counts are summed; a count that is not a positive number counts as 1
    local counted = function(text, deltas)
      local m = tok('A', text)
      m.params.deltas = deltas
      return m
    end
    got = b._join_tokens({ counted('x', 5), counted('y', 7), counted('z', 'many'), counted('w', -3), counted('v', 0 / 0) })
    eq(1, #got)
    eq('xyzwv', got[1].params.text)
    eq(15, got[1].params.deltas)
  end)

  it('follows new text while the cursor is on the last line, not after the user moved up', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.lua([[
      _G.moved = 0
      vim.api.nvim_create_autocmd('CursorMoved', { callback = function() _G.moved = _G.moved + 1 end })
    ]])
    -- the move that sending made is reported when Neovim next waits for a key: not counted
    child.type('')
    child.lua('_G.moved = 0')
    child.lua([[tok('chat-1', 'one\ntwo\nthree')]])
    child.lua([[tok('chat-1', '\nfour')]])
    child.wait('vim.api.nvim_buf_line_count(0) == 10')
    -- the end is on screen: the cursor stays on the answer's header, so no CursorMoved per token
    eq({ 5, 0 }, child.lua('return vim.api.nvim_win_get_cursor(0)'))
    eq(0, child.lua('return _G.moved'))
    -- a burst that runs past the window: the view follows the end, the cursor waits on the line
    -- above it (a change of the cursor's own line is a CursorMoved), once per frame at most
    child.lua([[for i = 1, 50 do tok('chat-1', '\nline ' .. i) end]])
    child.wait('vim.api.nvim_win_get_cursor(0)[1] == 59', 1000)
    eq(60, child.lua('return vim.fn.line("w$")'), 'window scrolled to the end')
    ok(child.lua('return _G.moved') <= 2, 'at most one move per rendered frame')
    child.lua('vim.api.nvim_win_set_cursor(0, { 3, 0 })') -- the user goes up to re-read
    child.lua([[tok('chat-1', '\nfive\nsix')]])
    vim.wait(100)
    eq({ 3, 0 }, child.lua('return vim.api.nvim_win_get_cursor(0)'), 'left alone')
    eq(1, child.lua('return vim.fn.line("w0")'))
    child.lua([[answer(1, nil, done('chat-1', 'x'))]])
    eq({ 3, 0 }, child.lua('return vim.api.nvim_win_get_cursor(0)'), 'still left alone at the end')
    -- back on the last line: follows again
    child.cmd('QuillNew')
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'again' })]])
    child.lua([[require('quill.chat').send()]])
    child.lua([[tok('chat-2', 'a')]])
    child.lua('vim.api.nvim_win_set_cursor(0, { 1, 0 })')
    child.lua([[tok('chat-2', string.rep('line\n', 10))]])
    vim.wait(100)
    eq({ 1, 0 }, child.lua('return vim.api.nvim_win_get_cursor(0)'))
    child.lua('vim.api.nvim_win_set_cursor(0, { vim.api.nvim_buf_line_count(0), 0 })') -- G
    child.lua([[tok('chat-2', string.rep('line\n', 50) .. 'end')]])
    child.wait('vim.deep_equal(vim.api.nvim_win_get_cursor(0), { 66, 0 })', 1000)
    eq(67, child.lua('return vim.fn.line("w$")'), 'window scrolled to the end')
  end)

  it('keeps a long, wrapping last line in view without a CursorMoved per frame', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', string.rep('line\n', 40))]]) -- past the window: following starts
    child.wait('vim.api.nvim_win_get_cursor(0)[1] == vim.api.nvim_buf_line_count(0) - 1', 1000)
    child.lua([[
      vim.wo.wrap = true
      _G.moved = 0
      vim.api.nvim_create_autocmd('CursorMoved', { callback = function() _G.moved = _G.moved + 1 end })
      -- one word per 30 ms, each its own frame: the last line grows over many screen rows
      local n = 0
      _G.feeder = (vim.uv or vim.loop).new_timer()
      _G.feeder:start(30, 30, vim.schedule_wrap(function()
        n = n + 1
        if n > 40 then
          if not _G.feeder:is_closing() then _G.feeder:close() end
          _G.fed = true
          return
        end
        tok('chat-1', 'word' .. n .. ' ')
      end))
    ]])
    child.wait('_G.fed == true', 5000)
    child.wait('vim.fn.line("w$") == vim.fn.line("$")', 1000)
    ok(#child.lua('return vim.fn.getline("$")') > 3 * child.lua('return vim.api.nvim_win_get_width(0)'),
      'the last line wraps over several screen rows')
    ok(child.lua('return _G.moved') <= 2, 'the cursor is not dragged along each frame: ' .. child.lua('return _G.moved'))
  end)

  it('keeps filling the buffer while its window is closed', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', 'before ')]])
    child.cmd('close')
    eq(1, child.lua('return #vim.api.nvim_list_wins()'))
    child.lua([[tok('chat-1', 'while\nclosed')]])
    child.lua([[answer(1, nil, done('chat-1', 'before while\nclosed'))]])
    eq({ 'before while', 'closed', '', '## You', '', '' }, { unpack(chat_lines(child), 7) })
    child.cmd('QuillChat')
    eq(2, child.lua('return #vim.api.nvim_list_wins()'))
  end)

  it('rebuilds a wiped chat buffer from the conversation', function()
    local child = stub.child()
    child.cmd('QuillChat first\nquestion')
    child.lua([[tok('chat-1', 'the\nanswer')]])
    child.lua([[answer(1, nil, done('chat-1', 'the\nanswer'))]])
    child.cmd('bwipeout! quill://chat')
    child.cmd('QuillChat')
    eq({ '## You', '', 'first', 'question', '', '## Assistant', '', 'the', 'answer', '', '## You', '', '' },
      chat_lines(child))
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'next' })]])
    child.lua([[require('quill.chat').send()]])
    eq(3, #child.lua('return params(2).messages'))
  end)

  it('statusline(): empty when idle, the model and count while streaming, a waiting review', function()
    local child = stub.child()
    eq('', child.lua([[return require('quill').statusline()]]))
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', 'a', 'b', 'c')]])
    h.matches('^quill %S+ llama3%.2 3 tok$', child.lua([[return require('quill').statusline()]]))
    child.cmd('wincmd p')
    child.cmd('QuillInsert x')
    h.matches('^quill %S+ 2 answers$', child.lua([[return require('quill').statusline()]]))
    child.lua([[answer(1, nil, done('chat-1', 'a'))]])
    child.lua([[answer(2, nil, done('inline-2', 'x'))]])
    eq('', child.lua([[return require('quill').statusline()]]))
    child.lua([[require('quill.review').confirm('c', 'quill: edit a?', { '+a' }, nil, function() end)]])
    eq('quill · review', child.lua([[return require('quill').statusline()]]))
  end)

  it('u after :QuillNew does not bring back the old conversation', function()
    local child = stub.child()
    finished_turn(child, 'first', 'old answer')
    child.cmd('QuillNew')
    eq({ '## You', '', '' }, chat_lines(child))
    child.type('u')
    eq({ '## You', '', '' }, chat_lines(child))
  end)

  it('a send after earlier turns were edited in the buffer is refused, saying so; u makes it go', function()
    local child = stub.child()
    finished_turn(child, 'first', 'the answer')
    child.lua([[vim.api.nvim_buf_set_lines(0, 6, 7, false, { 'an answer the model never gave' })]])
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'second' })]])
    child.lua([[require('quill.chat').send()]])
    eq(1, child.lua('return #reqs'), 'not sent')
    h.matches('earlier turns in the chat were changed', child.lua('return notes[#notes].msg'))
    eq('second', chat_lines(child)[#chat_lines(child)], 'the question is kept')
    -- the edit undone (the question stays), the send goes, with the conversation as the model had it
    child.lua([[vim.api.nvim_buf_set_lines(0, 6, 7, false, { 'the answer' })]])
    child.lua([[require('quill.chat').send()]])
    eq(2, child.lua('return #reqs'))
    eq('the answer', child.lua('return params(2).messages[2].content'))
    -- :QuillChat {prompt} checks too
    child.lua([[answer(2, nil, done('chat-2', 'ok'))]])
    child.lua([[vim.api.nvim_buf_set_lines(0, 0, 1, false, { '## You (edited)' })]])
    child.cmd('QuillChat third')
    eq(2, child.lua('return #reqs'))
  end)

  it('shows a spinner with live tokens per second, then the stats', function()
    local child = stub.child()
    child.lua('vim.o.columns = 200') -- a chat wide enough for the whole stats line
    child.cmd('QuillChat q')
    h.matches('^%S+ llama3%.2: waiting for the first token|QuillSpinner$', virt_text(child, 4))
    -- a slow start shows the seconds passing: loading until the server's first byte, then waiting
    child.lua([[require('quill.chat').state().turn.start_ns = vim.loop.hrtime() - 12.4e9]])
    local function shows(text)
      child.wait(([[(function()
        local ns = require('quill.stream').ns
        for _, x in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, { 4, 0 }, { 4, -1 }, { details = true })) do
          if x[4].virt_text and x[4].virt_text[1][1]:find(%q, 1, true) then return true end
        end
        return false
      end)() == true]]):format(text), 2000)
    end
    shows('llama3.2: loading… · 12 s')
    child.lua([[require('quill.stream')._on_progress({ chatId = 'chat-1', stage = 'responding' })]])
    shows('llama3.2: waiting for the first token · 12 s')
    child.lua([[require('quill.chat').state().turn.start_ns = vim.loop.hrtime()]])
    child.lua([[tok('chat-1', 'a', 'b', 'c')]])
    local first = virt_text(child, 4)
    -- the timer redraws it (~10 Hz) with the counts
    child.wait([[(function()
      local ns = require('quill.stream').ns
      local m = vim.api.nvim_buf_get_extmarks(0, ns, { 4, 0 }, { 4, -1 }, { details = true })
      for _, x in ipairs(m) do
        if x[4].virt_text and x[4].virt_text[1][1]:find('3 tokens, [%d.]+ tok/s') then return true end
      end
      return false
    end)() == true]], 2000)
    h.matches('^%S+ llama3%.2: .*|QuillSpinner$', first, 'right after the tokens the header still shows the spinner')
    eq(true, child.lua([[return require('quill.chat').state().turn.timer ~= nil]]))
    local timer_closed = child.lua([[
      local t = require('quill.chat').state().turn.timer
      _G.timer = t
      answer(1, nil, done('chat-1', 'abc'))
      return t:is_closing()
    ]])
    eq(true, timer_closed, 'timer stopped and closed')
    eq(STATS_LINE .. '|QuillStats', virt_text(child, 4))
    vim.wait(250)
    eq(STATS_LINE .. '|QuillStats', virt_text(child, 4), 'no spinner update after the end')
  end)

  it('fits the stats beside the header in a narrow chat, keeping the counts', function()
    local child = stub.child() -- 80 columns: the chat is 32 wide
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', 'abc')]])
    child.lua([[answer(1, nil, done('chat-1', 'abc'))]])
    local stats = virt_text(child, 4):gsub('|QuillStats$', '')
    local room = child.lua('return vim.api.nvim_win_get_width(0)') - #'## Assistant' - 1
    ok(vim.fn.strdisplaywidth(stats) <= room, stats .. ' fits in ' .. room)
    h.matches('^7 tokens', stats)
    -- the pieces go in order: first token, then the duration, then the model
    local stream = require('quill.stream')
    local s = { model = 'llama3.2', start_ns = 0, done_ns = 1.5e9, deltas = 7 }
    local st = { evalCount = 7, tokensPerSecond = 10, firstTokenMs = 250, totalDurationMs = 1500 }
    eq(STATS_LINE, stream.stats_text(s, st))
    eq('llama3.2 · 7 tokens · 10.0 tok/s · 1.50 s', stream.stats_text(s, st, 45))
    eq('llama3.2 · 7 tokens · 10.0 tok/s', stream.stats_text(s, st, 33))
    eq('7 tokens · 10.0 tok/s', stream.stats_text(s, st, 21))
    eq('7 tokens · 1…', stream.stats_text(s, st, 13))
  end)

  it('updates the spinner with the text while it flows, and on its own timer only in a pause', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.lua([[
      _G.log = {}
      local api = vim.api
      local set_text, set_extmark = api.nvim_buf_set_text, api.nvim_buf_set_extmark
      local hr = (vim.uv or vim.loop).hrtime
      api.nvim_buf_set_text = function(...)
        local r = set_text(...)
        table.insert(_G.log, { 'text', hr() })
        return r
      end
      api.nvim_buf_set_extmark = function(buf, ns, row, col, opts)
        local vt = opts.virt_text
        if vt and vt[1] and vt[1][1]:find('tok/s') then
          table.insert(_G.log, { 'spin', hr() })
        end
        return set_extmark(buf, ns, row, col, opts)
      end
      -- count the spinner's own beats (each one a wakeup of Neovim's loop)
      _G.beats = 0
      local turn = require('quill.chat').state().turn
      local beat = turn.on_beat
      turn.on_beat = function()
        _G.beats = _G.beats + 1
        beat()
      end
      -- a token every 20 ms for 600 ms
      local n = 0
      _G.feeder = (vim.uv or vim.loop).new_timer()
      _G.feeder:start(20, 20, vim.schedule_wrap(function()
        n = n + 1
        if n > 30 then
          if not _G.feeder:is_closing() then _G.feeder:close() end
          _G.fed_at = #_G.log
          return
        end
        tok('chat-1', 'x')
      end))
    ]])
    child.wait('_G.fed_at ~= nil', 3000)
    local log = child.lua('return _G.log')
    -- An update "with the text" comes right after an append, in the same callback. One of its
    -- own (a beat) is allowed only after a real pause: a loaded machine can stall the feeder for
    -- SPINNER_MS, and then the spinner must move on its own. No clock window between the two
    -- calls (a preempted process makes any such window flaky).
    local spinner_ns = require('quill.stream').SPINNER_MS * 1e6
    local spins, alone, pauses, last_text = 0, 0, 0, nil
    for i, e in ipairs(log) do
      if e[1] == 'text' then
        if last_text and e[2] - last_text >= spinner_ns then
          pauses = pauses + 1
        end
        last_text = e[2]
      elseif e[1] == 'spin' then
        spins = spins + 1
        local prev = log[i - 1]
        if not (prev and prev[1] == 'text') then
          alone = alone + 1
        end
      end
    end
    ok(spins >= 3, 'the counts kept up with the text: ' .. spins)
    ok(alone <= pauses, string.format('spinner updates of its own (%d) only in pauses (%d)', alone, pauses))
    local beats = child.lua('return _G.beats')
    ok(beats <= pauses, string.format('spinner wakeups (%d) only in pauses (%d) while text flows', beats, pauses))
    -- a pause: the timer animates it again
    child.wait('#_G.log > _G.fed_at and _G.log[#_G.log][1] == "spin"', 1000)
    ok(child.lua('return _G.beats') >= 1)
  end)

  it('marks an answer the server cut at its length limit, keeping the text', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', 'the start of')]])
    child.lua([[answer(1, nil, done('chat-1', 'the start of', { doneReason = 'length' }))]])
    local lines = chat_lines(child)
    eq({ '## Assistant', '', 'the start of', '', '[stopped: length limit reached]' }, { unpack(lines, 5, 9) })
  end)

  it('warns of a full context from num_ctx when the running models do not list the model', function()
    local function turn(running)
      local child = stub.child()
      child.lua([[require('quill').setup({ model = 'm1', options = { num_ctx = 28 } })]])
      child.cmd('QuillChat q')
      child.lua([[answer(1, nil, done('chat-1', 'a', { stats = { evalCount = 1, promptEvalCount = 26 } }))]])
      child.wait('#reqs == 2')
      eq('models/running', child.lua('return reqs[2].method'))
      child.lua('answer(2, nil, ...)', { running })
      local found
      for _, l in ipairs(chat_lines(child)) do
        found = found or (l:find('^%[context: ') and l)
      end
      return found
    end
    h.matches("fills 92%% of the model.s 28 tokens", turn({ models = {} }) or 'no note')
    h.matches("fills 92%% of the model.s 28 tokens",
      turn({ models = { { name = 'other', contextLength = 4096 } } }) or 'no note')
    -- the running size wins over the option
    eq(false, turn({ models = { { name = 'm1:latest', contextLength = 4096 } } }) or false)
  end)

  it('keeps the conversation and sends all of it with the next question', function()
    local child = stub.child()
    child.cmd('QuillChat first')
    child.lua([[tok('chat-1', 'answer one')]])
    child.lua([[answer(1, nil, done('chat-1', 'answer one', { messages = {
      { role = 'assistant', content = 'answer one', thinking = 'hmm' } } }))]])
    eq({ '## You', '', 'first', '', '## Assistant', '', 'answer one', '', '## You', '', '' }, chat_lines(child))
    eq({ 11, 0 }, child.lua('return vim.api.nvim_win_get_cursor(0)'), 'ready to type the next question')
    -- the user types under the new ## You and presses <CR> in normal mode
    child.lua([[vim.api.nvim_buf_set_lines(0, 10, 11, false, { 'second', 'question' })]])
    child.input('<CR>')
    child.wait('#reqs == 2')
    local p = child.lua('return params(2)')
    eq('chat-2', p.chatId)
    eq({
      { role = 'user', content = 'first' },
      { role = 'assistant', content = 'answer one', thinking = 'hmm' },
      { role = 'user', content = 'second\nquestion' },
    }, p.messages)
    eq({ '## You', '', 'second', 'question', '', '## Assistant', '', '' }, { unpack(chat_lines(child), 9) })
  end)

  it('sends with <C-s> in insert mode and refuses an empty question', function()
    local child = stub.child()
    child.cmd('QuillChat')
    child.input('i<C-s>')
    child.wait('#notes > 0')
    h.matches('nothing to send', child.lua('return notes[1].msg'))
    eq(0, child.lua('return #reqs'))
    child.input('iHow?<C-s>')
    child.wait('#reqs == 1')
    eq({ { role = 'user', content = 'How?' } }, child.lua('return params(1).messages'))
    eq('n', child.lua('return vim.api.nvim_get_mode().mode'), 'left insert mode')
    -- a second send while streaming is refused
    child.lua([[require('quill.chat').send()]])
    eq(1, child.lua('return #reqs'))
    h.matches('still streaming', child.lua('return notes[#notes].msg'))
  end)

  it('cancels with <C-c>: partial text stays, marked, and the conversation keeps it', function()
    local child = stub.child()
    child.cmd('QuillChat tell me')
    child.lua([[tok('chat-1', 'Once upon', ' a ti')]])
    child.input('<C-c>')
    child.wait('#cancels == 1')
    eq({ 1 }, child.lua('return cancels'), 'cancel sent for the chat/send request id')
    child.lua([[answer(1, nil, done('chat-1', '', { doneReason = 'cancelled',
      messages = { { role = 'assistant', content = 'Once upon a ti' } } }))]])
    eq({ 'Once upon a ti', '', '[cancelled]', '', '## You', '', '' }, { unpack(chat_lines(child), 7) })
    eq({ { role = 'user', content = 'tell me' }, { role = 'assistant', content = 'Once upon a ti' } },
      child.lua([[return require('quill.chat').history()]]))
    -- the mark is highlighted
    local hl = child.lua([[
      local ns = require('quill.stream').ns
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, { 8, 0 }, { 8, -1 }, { details = true })) do
        if m[4].hl_group then return m[4].hl_group end
      end
    ]])
    eq('QuillCancelled', hl)
    eq(false, child.lua([[return require('quill').status().busy]]))
    -- continue: the next question goes out with the partial answer in the history
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'go on' })]])
    child.lua([[require('quill.chat').send()]])
    eq(3, #child.lua('return params(2).messages'))
  end)

  it('shows the tokens received here when a cancelled turn has no counts from Ollama', function()
    local child = stub.child()
    local text = child.lua([[
      local stream = require('quill.stream')
      local t0 = 1e9
      local s = { model = 'm', start_ns = t0, first_ns = t0 + 1e8, done_ns = t0 + 2e9, deltas = 12 }
      local cancelled = stream.stats_text(s, { evalCount = 0, tokensPerSecond = 0, totalDurationMs = 2000 })
      local finished = stream.stats_text(s, { evalCount = 40, tokensPerSecond = 20, totalDurationMs = 2000 })
      return { cancelled, finished }
    ]])
    h.matches('12 tokens', text[1])
    eq(nil, text[1]:find('0 tokens', 1, true), text[1])
    h.matches('40 tokens', text[2])
  end)

  it('cancels on a <C-c> that arrived as an interrupt (bypassing the mapping)', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', 'abc')]])
    -- A <C-c> typed while Neovim is busy is an interrupt that no mapping sees;
    -- without the mapping the key arrives the same way, deterministically.
    child.lua([[
      _G.keys = {}
      vim.on_key(function(k) table.insert(_G.keys, k) end, vim.api.nvim_create_namespace('test'))
      vim.api.nvim_buf_del_keymap(0, 'n', '<C-c>')
    ]])
    child.input('<C-c>')
    child.wait('#cancels == 1')
    eq('\3', child.lua('return keys[1]'), 'the key came through unmapped')
    vim.wait(50)
    eq({ 1 }, child.lua('return cancels'), 'only one cancel')
    child.lua([[answer(1, nil, done('chat-1', 'abc', { doneReason = 'cancelled' }))]])
    -- no turn, no watcher: <C-c> is left alone
    child.input('<C-c>')
    vim.wait(50)
    eq(1, child.lua('return #cancels'))
  end)

  it(':QuillCancel and <Plug>(quill-cancel) cancel; a second cancel ends the turn locally', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.cmd('wincmd p') -- from another buffer: cancels all streams
    child.cmd('QuillCancel')
    eq({ 1 }, child.lua('return cancels'))
    child.lua([[vim.api.nvim_set_keymap('n', 'X', '<Plug>(quill-cancel)', {})]])
    child.lua([[tok('chat-1', 'partial')]])
    child.input('X')
    child.wait([[require('quill.chat').state().turn == nil]])
    eq({ 'partial', '', '[cancelled]', '', '## You', '', '' }, { unpack(chat_lines(child), 7) })
    eq({ role = 'assistant', content = 'partial' }, child.lua([[return require('quill.chat').history()[2] ]]))
    -- the backend's late answer and tokens change nothing
    child.lua([[tok('chat-1', 'late')]])
    child.lua([[answer(1, nil, done('chat-1', 'partial late', { doneReason = 'cancelled' }))]])
    eq({ 'partial', '', '[cancelled]', '', '## You', '', '' }, { unpack(chat_lines(child), 7) })
    eq(2, #child.lua([[return require('quill.chat').history()]]))
    -- nothing left to cancel: it says so, and sends nothing
    child.lua('_G.notes = {}')
    child.cmd('QuillCancel')
    eq({ { msg = 'quill: nothing is streaming', level = vim.log.levels.INFO } }, child.lua('return _G.notes'))
    eq({ 1 }, child.lua('return cancels'))
  end)

  local kinds = {
    { 'stream_interrupted', 'an error was encountered while running the model: unexpected EOF' },
    { 'stream_interrupted', 'stream interrupted' },
    { 'bad_stream', 'bad stream from Ollama: line 3 is not JSON' },
    { 'timeout', 'timed out after 60 s' },
    { 'http', 'Ollama answered HTTP 503: server busy' },
  }
  for _, k in ipairs(kinds) do
    it('shows a ' .. k[1] .. ' error after partial text and keeps both', function()
      local child = stub.child()
      child.cmd('QuillChat q')
      child.lua([[tok('chat-1', 'Partial ', 'ånswer')]])
      child.lua('answer(1, ...)', { stub.provider_error(k[1], k[2], 'Partial ånswer',
        { { role = 'assistant', content = 'Partial ånswer' } }) })
      eq({ 'Partial ånswer', '', '[interrupted: ' .. k[2] .. ']', '', '## You', '', '' },
        { unpack(chat_lines(child), 7) })
      eq({ role = 'assistant', content = 'Partial ånswer' }, child.lua([[return require('quill.chat').history()[2] ]]))
      local ev = child.lua('return vim.g.quill_last_event')
      eq('QuillStreamDone', ev.event)
      eq({ 'error', k[1], k[2] }, { ev.data.status, ev.data.error_kind, ev.data.message })
    end)
  end

  for _, k in ipairs({
    { 'unreachable', 'Ollama is not reachable at http://127.0.0.1:11434 — is `ollama serve` running?' },
    { 'model_not_found', "model 'llama9' not found — run `ollama pull llama9`" },
  }) do
    it('shows ' .. k[1] .. ' and gives the prompt back to resend', function()
      local child = stub.child()
      child.cmd('QuillChat my question')
      child.lua('answer(1, ...)', { stub.provider_error(k[1], k[2], '', {}) })
      eq({ '## You', '', 'my question', '', '## Assistant', '', '[error: ' .. k[2] .. ']', '', '## You', '', 'my question' },
        chat_lines(child))
      eq({}, child.lua([[return require('quill.chat').history()]]), 'the failed question is not in the history')
      child.lua([[require('quill.chat').send()]])
      eq({ { role = 'user', content = 'my question' } }, child.lua('return params(2).messages'))
    end)
  end

  it('marks a backend exit as interrupted and keeps what was shown', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', 'shown ', 'so far')]])
    child.lua([[answer(1, { code = 2, message = 'quill backend exited (code nil, signal 9)',
      data = { signal = 9 } })]])
    eq({ 'shown so far', '', '[interrupted: quill backend exited (code nil, signal 9)]', '', '## You', '', '' },
      { unpack(chat_lines(child), 7) })
    eq({ { role = 'user', content = 'q' }, { role = 'assistant', content = 'shown so far' } },
      child.lua([[return require('quill.chat').history()]]))
  end)

  it('status() reports the stream and User events fire around it', function()
    local child = stub.child()
    child.lua([[
      _G.events = {}
      vim.api.nvim_create_autocmd('User', { pattern = { 'QuillStreamStart', 'QuillStreamDone' }, callback = function(a)
        table.insert(_G.events, { a.match, vim.deepcopy(vim.g.quill_last_event.data), a.data })
      end })
    ]])
    eq(false, child.lua([[return require('quill').status().busy]]))
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', 'ab', 'ç')]])
    local st = child.lua([[return require('quill').status()]])
    eq(true, st.busy)
    local c = st.chats['chat-1']
    eq({ 'chat', 'llama3.2', 2, 3 }, { c.kind, c.model, c.tokens, c.chars })
    eq('number', type(c.tokens_per_second))
    eq('table', type(st.backend))
    child.lua([[answer(1, nil, done('chat-1', 'abç'))]])
    eq(false, child.lua([[return require('quill').status().busy]]))
    eq({}, child.lua([[return require('quill').status().chats]]))
    local ev = child.lua('return events')
    eq(2, #ev)
    eq('QuillStreamStart', ev[1][1])
    eq({ 'chat-1', 'chat', 'llama3.2' }, { ev[1][2].chatId, ev[1][2].kind, ev[1][2].model })
    eq('QuillStreamDone', ev[2][1])
    eq({ 'done', 'stop', 7 }, { ev[2][2].status, ev[2][2].reason, ev[2][2].stats.evalCount })
    if vim.fn.has('nvim-0.8') == 1 then
      eq('chat-1', ev[2][3].chatId, 'autocmd data on 0.8+')
    end
  end)

  it(':QuillNew starts another conversation in the chat window; the running one streams on in its own', function()
    local child = stub.child()
    child.cmd('QuillChat q')
    child.lua([[tok('chat-1', 'abc')]])
    local first = child.lua([[return require('quill.chat').state().buf]])
    local win = child.lua('return vim.api.nvim_get_current_win()')
    child.cmd('QuillNew')
    eq({}, child.lua('return cancels'), 'nothing cancelled')
    local second = child.lua([[return require('quill.chat').state().buf]])
    ok(second ~= first, 'a buffer of its own')
    eq(win, child.lua('return vim.api.nvim_get_current_win()'), 'in the chat window')
    eq(second, child.lua('return vim.api.nvim_win_get_buf(0)'))
    eq({ '## You', '', '' }, chat_lines(child))
    eq({ 3, 0 }, child.lua('return vim.api.nvim_win_get_cursor(0)'))
    -- the first answer goes on into its buffer, out of sight
    child.lua([[tok('chat-1', ' more')]])
    child.lua([[answer(1, nil, done('chat-1', 'abc more'))]])
    local old = child.lua('return lines(...)', { first })
    eq('abc more', old[7])
    eq({ '## You', '', '' }, chat_lines(child), 'the new one untouched')
    eq({}, child.lua([[return require('quill.chat').history()]]))
    -- the new one sends only its own conversation, while the old one could stream too
    child.lua([[vim.api.nvim_buf_set_lines(0, 2, 3, false, { 'fresh' })]])
    child.lua([[require('quill.chat').send()]])
    eq({ { role = 'user', content = 'fresh' } }, child.lua('return params(2).messages'))
    -- :QuillNew with a prompt sends it at once, in a third conversation
    child.cmd('QuillNew and now')
    eq({ { role = 'user', content = 'and now' } }, child.lua('return params(3).messages'))
    eq(3, #child.lua([[return require('quill').chats()]]))
  end)

  it(':QuillModel sets the model, or picks one from models/list', function()
    local child = stub.child()
    local models = [[{ models = { { name = 'qwen3:8b', size = 1, modifiedAt = 'x' },
      { name = 'llama3.2:latest', size = 2, modifiedAt = 'y' } } }]]
    child.cmd('QuillModel qwen3:8b')
    eq('qwen3:8b', child.lua([[return require('quill.config').get().model]]))
    -- the name is checked against the provider's models: known, so no warning
    eq('models/list', child.lua('return reqs[1].method'))
    child.lua('answer(1, nil, ' .. models .. ')')
    eq({ 'quill: model qwen3:8b' }, child.lua('return vim.tbl_map(function(n) return n.msg end, notes)'))
    child.lua([[
      vim.ui.select = function(items, opts, cb)
        _G.offered = { items = items, current = vim.tbl_map(opts.format_item, items) }
        cb(items[1])
      end
    ]])
    -- the configured `llama3.2` is the listed `llama3.2:latest`
    child.lua([[require('quill.config').get().model = 'llama3.2']])
    child.cmd('QuillModel')
    eq('models/list', child.lua('return reqs[2].method'))
    child.lua('answer(2, nil, ' .. models .. ')')
    eq({ items = { 'qwen3:8b', 'llama3.2:latest' }, current = { 'qwen3:8b', 'llama3.2:latest (current)' } },
      child.lua('return offered'))
    -- with capabilities: an embedding-only model is left out, what the others can do is marked
    child.cmd('QuillModel')
    local with_caps = [[{ models = {
      { name = 'qwen3:8b', size = 1, modifiedAt = 'x', capabilities = { 'completion', 'tools', 'thinking' } },
      { name = 'nomic-embed-text:latest', size = 1, modifiedAt = 'x', capabilities = { 'embedding' } },
      { name = 'llava:7b', size = 1, modifiedAt = 'x', capabilities = { 'completion', 'vision' } } } }]]
    child.lua('answer(' .. child.lua('return #reqs') .. ', nil, ' .. with_caps .. ')')
    eq({ items = { 'qwen3:8b', 'llava:7b' }, current = { 'qwen3:8b  [tools, thinking] (current)', 'llava:7b  [vision]' } },
      child.lua('return offered'))
    child.wait([[require('quill.config').get().model == 'qwen3:8b']])
    child.cmd('QuillChat hi')
    eq('qwen3:8b', child.lua('return params(4).model'))
    -- an error listing models is reported
    child.cmd('QuillModel')
    child.lua('answer(5, ...)', { stub.provider_error('unreachable', 'Ollama is not reachable at x', '', {}) })
    h.matches('cannot list models: Ollama is not reachable', child.lua('return notes[#notes].msg'))
    -- a name the provider does not have is said at once
    child.cmd('QuillModel llama9')
    child.lua('answer(6, nil, ' .. models .. ')')
    h.matches('the provider has no model llama9 %(it has: qwen3:8b, llama3.2:latest%)', child.lua('return notes[#notes].msg'))
    eq(vim.log.levels.WARN, child.lua('return notes[#notes].level'))
    -- a server listing 100,000 models does not make a 100,000-name message
    child.cmd('QuillModel llama9')
    child.lua([[
      local many = {}
      for i = 1, 100000 do many[i] = { name = 'm' .. i, size = 1, modifiedAt = 'x' } end
      answer(7, nil, { models = many })
    ]])
    local msg = child.lua('return notes[#notes].msg')
    ok(#msg < 300, #msg .. ' bytes')
    h.matches('m1, m2, .*m10, and 99990 more', msg)
  end)

  it('the first <Tab> after :QuillModel completes: the models are asked for while it is typed', function()
    local child = stub.child()
    eq({}, child.lua([[return vim.fn.getcompletion('QuillModel ', 'cmdline')]]), 'nothing listed yet')
    child.input(':QuillMo')
    child.wait('#reqs == 1')
    eq('models/list', child.lua('return reqs[1].method'))
    child.lua([[answer(1, nil, { models = { { name = 'qwen3:8b', size = 1, modifiedAt = 'x' } } })]])
    child.input('del ')
    eq(1, child.lua('return #reqs'), 'asked once while typing')
    eq({ 'qwen3:8b' }, child.lua([[return vim.fn.getcompletion('QuillModel q', 'cmdline')]]))
    child.input('<Esc>')
    -- other commands are not slowed by it
    child.input(':echo 1<CR>')
    eq(1, child.lua('return #reqs'))
  end)
end)
