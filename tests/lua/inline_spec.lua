-- :QuillInsert with a stubbed backend (see stub.lua): insertion point,
-- range replacement, one undo step despite edits made meanwhile, fence
-- stripping, the temporary cancel key, errors.
local h = require('harness')
local stub = require('stub')
local eq, ok = h.eq, h.ok

-- A child with `lines` in a lua buffer and the cursor at {row, col}.
local function setup(lines, cursor, opts)
  local child = stub.child(opts)
  child.lua([[
    local lines, cursor = ...
    vim.bo.filetype = 'lua'
    vim.api.nvim_buf_set_lines(0, 0, -1, false, lines)
    vim.cmd('let &g:undolevels = &g:undolevels') -- the set-up is not part of the test's undo steps
    vim.api.nvim_win_set_cursor(0, cursor)
  ]], { lines, cursor })
  return child
end

-- Keys typed as by a user; returns once Neovim has processed them.
local function keys(child, k)
  child.type(k)
end

local function lines(child)
  return child.lua('return lines()')
end

local CODE = { 'local a = 1', '', 'return a' }

describe(':QuillInsert', function()
  it('asks for only the text to insert, with the filetype and the surrounding lines', function()
    local child = setup(CODE, { 2, 0 })
    child.cmd('QuillInsert a function f that returns a')
    local p = child.lua('return params(1)')
    eq('inline-1', p.chatId)
    eq(1, #p.messages)
    local text = p.messages[1].content
    h.matches('a lua file', text)
    h.matches('Reply with only the text to insert', text)
    h.matches('no markdown code fences', text)
    h.matches('local a = 1', text)
    h.matches('return a', text)
    h.matches('Instruction: a function f that returns a$', text)
    eq(nil, p.tools)
  end)

  it('streams at the cursor and one u removes the whole insertion', function()
    local child = setup(CODE, { 2, 0 })
    child.cmd('QuillInsert f')
    -- each call is its own event-loop turn, as real tokens are
    child.lua([[tok('inline-1', 'local function f()\n')]])
    child.lua([[tok('inline-1', '  return a ')]])
    child.lua([[tok('inline-1', '-- ✓\n', 'end')]])
    child.lua([[answer(1, nil, done('inline-1', 'x'))]])
    eq({ 'local a = 1', 'local function f()', '  return a -- ✓', 'end', 'return a' }, lines(child))
    keys(child, 'u')
    eq(CODE, lines(child))
    keys(child, '<C-r>')
    eq({ 'local a = 1', 'local function f()', '  return a -- ✓', 'end', 'return a' }, lines(child))
  end)

  it('inserts after the character under the cursor on a non-empty line', function()
    local child = setup({ 'x = foo(' }, { 1, 7 })
    child.cmd('QuillInsert args')
    child.lua([[tok('inline-1', 'a, b)')]])
    child.lua([[answer(1, nil, done('inline-1', 'a, b)'))]])
    eq({ 'x = foo(a, b)' }, lines(child))
    -- multi-byte character under the cursor
    child.lua([[vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'xé|' }); vim.api.nvim_win_set_cursor(0, { 1, 1 })]])
    child.cmd('QuillInsert x')
    child.lua([[tok('inline-2', 'ü')]])
    child.lua([[answer(2, nil, done('inline-2', 'ü'))]])
    eq({ 'xéü|' }, lines(child))
  end)

  it('puts the answer on lines of its own above the line when the cursor is in column 0', function()
    local child = setup({ 'line three' }, { 1, 0 })
    child.cmd('QuillInsert x')
    child.lua([[tok('inline-1', 'new')]])
    child.lua([[answer(1, nil, done('inline-1', 'new'))]])
    eq({ 'new', 'line three' }, lines(child))
    keys(child, 'u')
    eq({ 'line three' }, lines(child))
  end)

  -- The fence filter drops the newline before the closing fence; the line below stays its own.
  it('a fenced function above `def main():` ends in its own newline', function()
    local child = setup({ 'import sys', '', 'def main():', '    pass' }, { 3, 0 })
    child.cmd('QuillInsert sub')
    local answer = '```python\ndef sub(a, b):\n    return a - b\n```'
    for i = 1, #answer, 3 do
      child.lua('tok("inline-1", ...)', { answer:sub(i, i + 2) })
    end
    child.lua([[answer(1, nil, done('inline-1', 'x'))]])
    eq({ 'import sys', '', 'def sub(a, b):', '    return a - b', 'def main():', '    pass' }, lines(child))
    keys(child, 'u')
    eq({ 'import sys', '', 'def main():', '    pass' }, lines(child))
  end)

  it('in column 0, an answer ending in a newline leaves no empty line; nothing leaves no trace', function()
    local child = setup({ 'a', 'b' }, { 2, 0 })
    child.cmd('QuillInsert x')
    child.lua([[tok('inline-1', 'one\ntwo\n')]])
    child.lua([[answer(1, nil, done('inline-1', 'x'))]])
    eq({ 'a', 'one', 'two', 'b' }, lines(child))
    child.cmd('QuillInsert y')
    eq({ 'a', 'one', 'two', '', 'b' }, lines(child), 'the place is held above the cursor line')
    child.lua('answer(2, ...)', { stub.provider_error('unreachable', 'down', '', {}) })
    eq({ 'a', 'one', 'two', 'b' }, lines(child))
    keys(child, 'u')
    eq({ 'a', 'b' }, lines(child), 'u undoes the first insertion, nothing of the failed one is left')
  end)

  -- On 0.7 a moved end-of-line mark leaves its old text on screen until that line is redrawn
  -- (seen in tmux); a headless child can only check that the redraw is asked for.
  it('on Neovim 0.7 the line the spinner left is redrawn', function()
    local child = setup({ '' }, { 1, 0 })
    child.lua([[
      _G.redrawn = {}
      vim.api.nvim__buf_redraw_range = function(_, first) table.insert(_G.redrawn, first) end
    ]])
    child.cmd('QuillInsert x')
    child.lua([[tok('inline-1', 'a\n')]])
    child.lua([[tok('inline-1', 'b\n')]])
    child.wait([[#lines() == 3]])
    child.lua([[require('quill.stream').get('inline-1').tick()]])
    child.lua([[answer(1, nil, done('inline-1', 'x'))]])
    local old = child.lua([[return vim.fn.has('nvim-0.8') == 0]])
    eq(old and { 0, 2 } or {}, child.lua('return _G.redrawn'))
    -- the stats sit at the end of the answer's last line, not past the buffer's end
    eq({ 'a', 'b' }, lines(child))
    eq({ 1 }, child.lua([[
      local rows = {}
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, require('quill.stream').ns, 0, -1, { details = true })) do
        if m[4].virt_text then table.insert(rows, m[2]) end
      end
      return rows
    ]]))
  end)

  it('the stats note goes away with an undo of the insertion, not with other edits', function()
    local child = setup({ 'a', '' }, { 2, 0 })
    local function notes_shown()
      return child.lua([[
        local n = 0
        for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, require('quill.stream').ns, 0, -1, { details = true })) do
          if m[4].virt_text then n = n + 1 end
        end
        return n
      ]])
    end
    child.cmd('QuillInsert x')
    child.lua([[tok('inline-1', 'new')]])
    child.lua([[answer(1, nil, done('inline-1', 'new'))]])
    eq(1, notes_shown())
    keys(child, 'ggAb<Esc>') -- an edit elsewhere: the note stays
    eq(1, notes_shown())
    keys(child, 'u') -- undoes the edit, not the insertion
    eq(1, notes_shown())
    keys(child, 'u') -- the insertion
    eq({ 'a', '' }, lines(child))
    eq(0, notes_shown())
  end)

  it('in column 0, an empty placeholder the user deleted takes no line of the buffer with it', function()
    local child = setup({ 'a', 'b' }, { 2, 0 })
    child.cmd('QuillInsert x')
    child.lua([[tok('inline-1', 'one\ntwo\n')]])
    child.wait([[#lines() == 5]])
    keys(child, '4Gdd') -- the empty line the answer would go on
    child.lua([[answer(1, nil, done('inline-1', 'x'))]])
    eq({ 'a', 'one', 'two', 'b' }, lines(child), "b is not joined to the answer's last line")
    keys(child, 'u')
    eq({ 'a', 'b' }, lines(child), 'one u removes the answer and only it')
  end)

  it('an answer of several lines begun inside a line moves above it; one line stays inline', function()
    local child = setup({ 'x = foo(1)' }, { 1, 7 })
    child.cmd('QuillInsert x')
    child.lua([[tok('inline-1', 'bar')]])
    eq({ 'x = foo(bar1)' }, lines(child), 'inline while it is one line')
    child.lua([[tok('inline-1', '()\nbaz()')]])
    child.wait([[#lines() == 3]])
    eq({ 'bar()', 'baz()', 'x = foo(1)' }, lines(child))
    child.lua([[answer(1, nil, done('inline-1', 'x'))]])
    eq({ 'bar()', 'baz()', 'x = foo(1)' }, lines(child))
    keys(child, 'u')
    eq({ 'x = foo(1)' }, lines(child))
  end)

  it('lands at the right place while the user edits elsewhere, and u removes only it', function()
    local child = setup({ 'one', 'two', 'three', 'four' }, { 3, 4 })
    child.cmd('QuillInsert x')
    child.lua([[tok('inline-1', '<A')]])
    -- the user edits above the insertion point: a new first line and a change on 'two'
    keys(child, 'ggOzero<Esc>')
    child.lua([[tok('inline-1', 'B')]])
    keys(child, 'jjA!<Esc>')
    child.lua([[tok('inline-1', '\nC>')]])
    child.lua([[answer(1, nil, done('inline-1', 'x'))]])
    eq({ 'zero', 'one', 'two!', '<AB', 'C>', 'three', 'four' }, lines(child), 'several lines: above the line')
    eq({ 3, 3 }, child.lua('return vim.api.nvim_win_get_cursor(0)'), 'the user keeps the cursor')
    keys(child, 'u')
    eq({ 'zero', 'one', 'two!', 'three', 'four' }, lines(child), 'one u removes the insertion, the edits stay')
  end)

  it('does not swallow an edit made meanwhile into its undo step', function()
    local child = setup({ 'one', 'two' }, { 2, 2 })
    child.cmd('QuillInsert x')
    child.lua([[tok('inline-1', ' A')]])
    keys(child, 'gg0x')
    child.lua([[answer(1, nil, done('inline-1', ' A'))]])
    eq({ 'ne', 'two A' }, lines(child))
    keys(child, 'u')
    eq({ 'ne', 'two' }, lines(child), 'u removes the insertion, not the later edit')
  end)

  it('writes into its buffer while another buffer is current', function()
    local child = setup(CODE, { 2, 0 })
    local buf = child.lua('return vim.api.nvim_get_current_buf()')
    child.cmd('QuillInsert f')
    child.lua([[tok('inline-1', 'x = 1\n')]])
    child.cmd('enew')
    child.lua([[tok('inline-1', 'y = 2')]])
    child.lua([[answer(1, nil, done('inline-1', 'x'))]])
    eq({ '' }, lines(child))
    eq({ 'local a = 1', 'x = 1', 'y = 2', 'return a' }, child.lua('return lines(...)', { buf }))
    child.cmd('buffer ' .. buf)
    keys(child, 'u')
    eq(CODE, lines(child))
  end)

  it(':[range]QuillInsert replaces the lines; one u brings them back', function()
    local child = setup({ 'a', 'old 1', 'old 2', 'z' }, { 1, 0 })
    child.cmd('2,3QuillInsert rewrite')
    eq({ 'a', '', 'z' }, lines(child), 'the selection is replaced right away')
    local text = child.lua('return params(1).messages[1].content')
    h.matches('Rewrite the selected lines', text)
    h.matches('old 1\nold 2', text)
    child.lua([[tok('inline-1', 'new 1\n')]])
    child.lua([[tok('inline-1', 'new 2\n')]]) -- a trailing newline leaves no empty line
    child.lua([[answer(1, nil, done('inline-1', 'x'))]])
    eq({ 'a', 'new 1', 'new 2', 'z' }, lines(child))
    keys(child, 'u')
    eq({ 'a', 'old 1', 'old 2', 'z' }, lines(child))
  end)

  it('restores the range when nothing came, and reports the error', function()
    local child = setup({ 'a', 'old', 'z' }, { 1, 0 })
    child.cmd('2QuillInsert rewrite')
    child.lua('answer(1, ...)', { stub.provider_error('unreachable', 'Ollama is not reachable at x', '', {}) })
    eq({ 'a', 'old', 'z' }, lines(child))
    local note = child.lua('return notes[#notes]')
    eq(vim.log.levels.ERROR, note.level)
    h.matches('Ollama is not reachable at x', note.msg)
  end)

  it('strips a code fence around the whole answer while streaming', function()
    local child = setup({ 'x', '' }, { 2, 0 })
    child.cmd('QuillInsert f')
    local answer = '```lua\nlocal y = 2\nreturn y\n```'
    for i = 1, #answer do
      child.lua('tok("inline-1", ...)', { answer:sub(i, i) })
    end
    child.wait([[lines()[3] == 'return y']])
    eq({ 'x', 'local y = 2', 'return y' }, lines(child), 'the closing fence is held back')
    child.lua([[answer(1, nil, done('inline-1', 'x'))]])
    eq({ 'x', 'local y = 2', 'return y' }, lines(child))
    keys(child, 'u')
    eq({ 'x', '' }, lines(child))
  end)

  it('maps the cancel key in the buffer only while streaming, then restores the old map', function()
    local child = setup(CODE, { 2, 0 })
    child.lua([[vim.api.nvim_buf_set_keymap(0, 'n', '<C-c>', ':let g:mine = 1<CR>', { noremap = true })]])
    child.cmd('QuillInsert f')
    child.lua([[tok('inline-1', 'part')]])
    keys(child, '<C-c>')
    eq({ 1 }, child.lua('return cancels'))
    eq(vim.NIL, child.lua('return vim.g.mine'))
    child.lua([[answer(1, nil, done('inline-1', 'part', { doneReason = 'cancelled' }))]])
    eq({ 'local a = 1', 'part', 'return a' }, lines(child), 'partial text stays')
    local note = child.lua([[
      local ns = require('quill.stream').ns
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
        if m[4].virt_text then return { m[2], m[4].virt_text[1][1], m[4].virt_text[1][2] } end
      end
    ]])
    eq({ 1, ' [cancelled]', 'QuillCancelled' }, note)
    eq(':let g:mine = 1<CR>', child.lua([[return vim.fn.maparg('<C-c>', 'n')]]))
    keys(child, '<C-c>')
    eq(1, child.lua('return vim.g.mine'))
    -- without an earlier map, none is left behind
    child.lua([[vim.api.nvim_buf_del_keymap(0, 'n', '<C-c>')]])
    child.cmd('QuillInsert g')
    eq(true, child.lua([[return vim.fn.maparg('<C-c>', 'n') ~= '']]))
    child.lua([[answer(2, nil, done('inline-2', ''))]])
    eq('', child.lua([[return vim.fn.maparg('<C-c>', 'n')]]))
  end)

  it('keeps partial text on an error, marks it and notifies', function()
    local child = setup(CODE, { 2, 0 })
    child.cmd('QuillInsert f')
    child.lua([[tok('inline-1', 'half')]])
    eq(true, child.lua([[return require('quill').status().busy]]))
    eq('inline', child.lua([[return require('quill').status().chats['inline-1'].kind]]))
    child.lua('answer(1, ...)', { stub.provider_error('stream_interrupted', 'stream interrupted', 'half',
      { { role = 'assistant', content = 'half' } }) })
    eq({ 'local a = 1', 'half', 'return a' }, lines(child))
    h.matches('stream interrupted', child.lua('return notes[#notes].msg'))
    local note = child.lua([[
      local ns = require('quill.stream').ns
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
        if m[4].virt_text then return m[4].virt_text[1][1] end
      end
    ]])
    eq(' [interrupted: stream interrupted]', note)
    eq(false, child.lua([[return require('quill').status().busy]]))
  end)

  it('needs an instruction', function()
    local child = setup(CODE, { 2, 0 })
    child.lua([[vim.ui.input = function(opts, cb) _G.asked = opts.prompt cb('') end]])
    child.cmd('QuillInsert')
    eq('quill: insert: ', child.lua('return asked'))
    eq(0, child.lua('return #reqs'))
  end)
end)

describe('fence filter', function()
  local inline = require('quill.inline')

  -- Output of the filter for `text` fed in pieces cut at every position pair.
  local function each_split(text, fn)
    fn({ text })
    for i = 1, #text - 1 do
      fn({ text:sub(1, i), text:sub(i + 1) })
      for j = i + 1, #text - 1 do
        fn({ text:sub(1, i), text:sub(i + 1, j), text:sub(j + 1) })
      end
    end
  end

  local function run(pieces)
    local f = inline.new_fence_filter()
    local out = {}
    for _, p in ipairs(pieces) do
      table.insert(out, f:push(p))
    end
    table.insert(out, f:finish())
    return table.concat(out)
  end

  local cases = {
    { '```lua\nlocal x = 1\nreturn x\n```', 'local x = 1\nreturn x' },
    { '```\na\n```\n', 'a' },
    { '```python\n  indented\n\n  code\n```', '  indented\n\n  code' },
    { 'plain text\nno fence', 'plain text\nno fence' },
    { '`inline` code', '`inline` code' },
    { 'x = 1\n```\n', 'x = 1\n```\n' },
    { '```lua\nunterminated', 'unterminated' },
    { '```lua\na\n```\nexplanation', 'a\n```\nexplanation' },
    { '```c++\nint x;\n```', 'int x;' },
  }
  for _, c in ipairs(cases) do
    local function show(t)
      return (t:gsub('\n', '\\n'))
    end
    it(('%s → %s at every split'):format(show(c[1]), show(c[2])), function()
      each_split(c[1], function(pieces)
        eq(c[2], run(pieces), vim.inspect(pieces))
      end)
    end)
  end

  it('emits unfenced text as soon as it is known not to open a fence', function()
    local f = inline.new_fence_filter()
    eq('', f:push('``'))
    eq('``x', f:push('x'))
    eq('y', f:push('y'))
    local g = inline.new_fence_filter()
    eq('', g:push('```lua'))
    eq('a', g:push('\na'))
    eq('', g:push('\n'))
    eq('\nb', g:push('b'))
  end)
end)
