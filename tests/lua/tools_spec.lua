-- quill.tools with a stubbed backend (see tools_child.lua); hostile input is in
-- tools_hostile_spec.lua.
local h = require('harness')
local eq, ok = h.eq, h.ok
local uv = vim.uv or vim.loop

local write_file, read_file = h.write_file, h.read_file
local tc = require('tools_child')
local setup, call, answer, ask = tc.setup, tc.call, tc.answer, tc.ask

describe('tools: read_file', function()
  it('reads a loaded buffer (unsaved text) in preference to the disk', function()
    local child, root = setup()
    write_file(root .. '/a.txt', 'on disk\n')
    write_file(root .. '/b.txt', 'disk one\ndisk two\n')
    child.lua([[
      vim.cmd('edit ' .. vim.fn.fnameescape(... .. '/a.txt'))
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'unsaved 1', 'unsaved 2' })
    ]], { root })
    eq({ content = 'unsaved 1\nunsaved 2\n', truncated = false },
      call(child, 'editor/readFile', { path = 'a.txt' }).result)
    eq({ content = 'disk one\ndisk two\n', truncated = false },
      call(child, 'editor/readFile', { path = 'b.txt' }).result)
    -- absolute path inside the root works too
    eq('disk one\ndisk two\n', call(child, 'editor/readFile', { path = root .. '/b.txt' }).result.content)
    local err = call(child, 'editor/readFile', { path = 'nope.txt' }).error
    eq(-32001, err.code)
    h.matches('not found', err.message)
    err = call(child, 'editor/readFile', { path = 42 }).error
    eq(-32602, err.code)
  end)

  it('returns line ranges, clipped, with their newlines', function()
    local child, root = setup()
    write_file(root .. '/r.txt', 'l1\nl2\nl3\nl4')
    local function range(s, e)
      return call(child, 'editor/readFile', { path = 'r.txt', startLine = s, endLine = e }).result.content
    end
    eq('l2\nl3\n', range(2, 3))
    eq('l3\nl4', range(3, 99))
    eq('l1\n', range(1, 1))
    eq('', range(7, 9))
    eq('l4', range(4, nil))
    eq(-32602, call(child, 'editor/readFile', { path = 'r.txt', startLine = 3, endLine = 2 }).error.code)
  end)

  it('caps large files and refuses binary ones', function()
    local child, root = setup({ max_read_bytes = 100 })
    write_file(root .. '/big.txt', string.rep('0123456789abcdefghi\n', 20))
    local r = call(child, 'editor/readFile', { path = 'big.txt' }).result
    eq(true, r.truncated)
    ok(#r.content <= 100 and #r.content >= 50, 'cut near the cap: ' .. #r.content)
    eq('\n', r.content:sub(-1), 'cut at a line end')
    write_file(root .. '/bin.dat', 'abc\0def')
    local err = call(child, 'editor/readFile', { path = 'bin.dat' }).error
    eq(-32001, err.code)
    h.matches('binary', err.message)
    vim.fn.mkdir(root .. '/dir', 'p')
    h.matches('directory', call(child, 'editor/readFile', { path = 'dir' }).error.message)
  end)
end)

describe('tools: list_files', function()
  it('lists with globs and **, sorted, without .git, capped', function()
    local child, root = setup({ max_files = 3 })
    for _, f in ipairs({ 'b.lua', 'a.lua', 'src/x.lua', 'src/deep/y.lua', 'src/z.c', 'README', '.git/config' }) do
      write_file(root .. '/' .. f, 'x')
    end
    child.lua([[require('quill.config').get().tools.max_files = 100]])
    local function list(pattern)
      return call(child, 'editor/listFiles', { pattern = pattern }).result
    end
    eq({ files = { 'README', 'a.lua', 'b.lua', 'src/deep/y.lua', 'src/x.lua', 'src/z.c' }, truncated = false }, list(nil))
    eq({ 'a.lua', 'b.lua' }, list('*.lua').files)
    eq({ 'a.lua', 'b.lua', 'src/deep/y.lua', 'src/x.lua' }, list('**/*.lua').files)
    eq({ 'src/x.lua', 'src/z.c' }, list('src/?.*').files)
    eq({ 'src/deep/y.lua', 'src/x.lua', 'src/z.c' }, list('src/**').files)
    eq({}, list('*.py').files)
    child.lua([[require('quill.config').get().tools.max_files = 3]])
    eq({ files = { 'README', 'a.lua', 'b.lua' }, truncated = true }, list(nil))
  end)

  it('skips files git ignores in a git work tree', function()
    local child, root = setup()
    vim.fn.system({ 'git', 'init', '-q', root })
    write_file(root .. '/.gitignore', 'build/\n*.log\n')
    write_file(root .. '/keep.txt', 'x')
    write_file(root .. '/app.log', 'x')
    write_file(root .. '/build/out.o', 'x')
    write_file(root .. '/src/main.c', 'x')
    eq({ '.gitignore', 'keep.txt', 'src/main.c' }, call(child, 'editor/listFiles', {}).result.files)
  end)
end)

describe('tools: safety', function()
  it('refuses paths outside the workspace via .. and via a symlink, touching nothing', function()
    local child, root = setup({ auto_approve = true, write = true })
    local outside = vim.fn.tempname()
    vim.fn.mkdir(outside, 'p')
    h.cleanup(function()
      vim.fn.delete(outside, 'rf')
    end)
    write_file(outside .. '/secret.txt', 'secret\n')
    uv.fs_utime(outside .. '/secret.txt', 1000, 1000)
    uv.fs_symlink(outside, root .. '/link')
    uv.fs_symlink(outside .. '/secret.txt', root .. '/file-link')
    local rel = '../' .. vim.fn.fnamemodify(outside, ':t') .. '/secret.txt'
    local attempts = {
      { 'editor/readFile', { path = rel } },
      { 'editor/readFile', { path = 'link/secret.txt' } },
      { 'editor/readFile', { path = 'file-link' } },
      { 'editor/readFile', { path = outside .. '/secret.txt' } },
      { 'editor/applyEdit', { path = 'link/secret.txt', oldText = 'secret', newText = 'pwned' } },
      { 'editor/applyEdit', { path = 'file-link', oldText = 'secret', newText = 'pwned' } },
      { 'editor/createFile', { path = 'link/new.txt', content = 'x' } },
      { 'editor/createFile', { path = '../escape.txt', content = 'x' } },
      { 'editor/listFiles', { pattern = '../**' } },
    }
    for _, a in ipairs(attempts) do
      local r = call(child, a[1], a[2])
      eq(nil, r.result, a[1] .. ' ' .. vim.inspect(a[2]))
      eq(-32001, r.error.code, a[1] .. ' ' .. vim.inspect(a[2]))
      h.matches('outside the workspace', r.error.message)
    end
    eq("path '../x' is outside the workspace", call(child, 'editor/readFile', { path = '../x' }).error.message)
    eq('secret\n', read_file(outside .. '/secret.txt'))
    eq(1000, uv.fs_stat(outside .. '/secret.txt').mtime.sec)
    eq(nil, uv.fs_stat(outside .. '/new.txt'))
    eq(nil, uv.fs_stat(vim.fn.fnamemodify(root, ':h') .. '/escape.txt'))
    eq(-1, child.lua('return vim.fn.bufnr(...)', { outside .. '/secret.txt' }), 'no buffer for the outside file')
    -- the links themselves are not listed as files
    eq({}, call(child, 'editor/listFiles', {}).result.files)
  end)
end)

describe('tools: edit_file', function()
  it('shows a diff; accept applies it as one undo step without writing', function()
    local child, root = setup()
    write_file(root .. '/e.txt', 'one\ntwo\nthree\n')
    local id = ask(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'two\n', newText = 'TWO\n2b\n' })
    eq(vim.NIL, child.lua('return replies[...] or vim.NIL', { id }), 'waits for the user')
    local float = child.lua([[
      local buf = require('quill.review').current_prompt().buf
      return { ft = vim.bo[buf].filetype, lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false), n = float_count() }
    ]])
    eq(1, float.n)
    eq('diff', float.ft)
    ok(vim.tbl_contains(float.lines, '-two'), vim.inspect(float.lines))
    ok(vim.tbl_contains(float.lines, '+TWO'), vim.inspect(float.lines))
    ok(vim.tbl_contains(float.lines, '+++ b/e.txt'))
    answer(child, 'a')
    local r = child.lua('return replies[...]', { id }).result
    eq(true, r.applied)
    h.matches('^edited e.txt %(1 line replaced by 2%)', r.message)
    eq(0, child.lua('return float_count()'))
    local buf = child.lua('return bufof(...)', { root .. '/e.txt' })
    eq({ 'one', 'TWO', '2b', 'three' }, child.lua('return blines(...)', { buf }))
    eq(true, child.lua('return vim.bo[...].modified', { buf }))
    eq('one\ntwo\nthree\n', read_file(root .. '/e.txt'), 'not written')
    child.lua('vim.api.nvim_set_current_buf(...)', { buf })
    child.type('u')
    eq({ 'one', 'two', 'three' }, child.lua('return blines(...)', { buf }), 'one u reverts it')
  end)

  it('edits the loaded buffer (unsaved text); reject leaves it alone', function()
    local child, root = setup()
    write_file(root .. '/e.txt', 'disk\n')
    child.lua([[
      vim.cmd('edit ' .. vim.fn.fnameescape(... .. '/e.txt'))
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'alpha', 'beta' })
    ]], { root })
    local id = ask(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'beta', newText = 'gamma' })
    answer(child, 'r')
    eq({ applied = false, message = 'the user rejected this edit' }, child.lua('return replies[...]', { id }).result)
    eq({ 'alpha', 'beta' }, child.lua('return lines()'))
    eq('e.txt', child.lua([[return vim.fn.expand('%:t')]]), 'focus is back in the previous window')
    id = ask(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'beta', newText = 'gamma' })
    answer(child, 'a')
    eq({ 'alpha', 'gamma' }, child.lua('return lines()'))
  end)

  it('accept all applies later edits of the same chat without asking', function()
    local child, root = setup()
    write_file(root .. '/e.txt', 'a\nb\nc\n')
    local id = ask(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'a', newText = 'A' })
    answer(child, 'AA') -- accept-all asks once more
    eq(true, child.lua('return replies[...]', { id }).result.applied)
    eq(true, call(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'b', newText = 'B' }).result.applied)
    -- another chat still asks
    id = ask(child, 'editor/applyEdit', { chatId = 'chat-2', path = 'e.txt', oldText = 'c', newText = 'C' })
    eq(vim.NIL, child.lua('return replies[...] or vim.NIL', { id }))
    eq(1, child.lua('return float_count()'))
    answer(child, 'r')
    eq({ 'A', 'B', 'c' }, child.lua('return blines(bufof(...))', { root .. '/e.txt' }))
  end)

  it('refuses an old_text that is missing or ambiguous', function()
    local child, root = setup()
    write_file(root .. '/e.txt', 'x = 1\nx = 1\ny = 2\n')
    local err = call(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'x = 1', newText = 'x = 3' }).error
    eq({ code = -32001, message = 'old_text matches 2 times in e.txt; include more context' }, err)
    err = call(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'z = 9', newText = '' }).error
    eq({ code = -32001, message = 'old_text not found in e.txt' }, err)
    eq(-32602, call(child, 'editor/applyEdit', { path = 'e.txt', oldText = '', newText = 'x' }).error.code)
    eq(0, child.lua('return float_count()'))
  end)

  it('auto_approve applies at once, and write = true writes the file', function()
    local child, root = setup({ auto_approve = true, write = true })
    write_file(root .. '/e.txt', 'hello world\n')
    local r = call(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'world', newText = 'there' }).result
    eq(true, r.applied)
    eq('hello there\n', read_file(root .. '/e.txt'))
    eq(0, child.lua('return float_count()'))
  end)

  it('a cancel while the diff is shown closes it, answers -32800 and applies nothing', function()
    local child, root = setup()
    write_file(root .. '/e.txt', 'keep\n')
    local id = ask(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'keep', newText = 'lost' })
    eq(1, child.lua('return float_count()'))
    child.lua('cancel(...)', { id })
    local reply = child.lua('return replies[...]', { id })
    eq(-32800, reply.error.code)
    eq(0, child.lua('return float_count()'))
    eq({ 'keep' }, child.lua('return blines(bufof(...))', { root .. '/e.txt' }))
    child.type('a') -- a late key press does nothing
    eq({ 'keep' }, child.lua('return blines(bufof(...))', { root .. '/e.txt' }))
    eq('keep\n', read_file(root .. '/e.txt'))
  end)
end)

describe('tools: create_file', function()
  it('refuses an existing file or buffer', function()
    local child, root = setup({ auto_approve = true })
    write_file(root .. '/there.txt', 'x')
    local err = call(child, 'editor/createFile', { path = 'there.txt', content = 'y' }).error
    eq(-32001, err.code)
    h.matches('already exists', err.message)
    child.lua([[vim.cmd('edit ' .. vim.fn.fnameescape(... .. '/unsaved.txt'))]], { root })
    eq(-32001, call(child, 'editor/createFile', { path = 'unsaved.txt', content = 'y' }).error.code)
    eq('x', read_file(root .. '/there.txt'))
  end)

  it('asks, then creates an unsaved buffer without touching the disk', function()
    local child, root = setup()
    local id = child.lua([[return req('editor/createFile', { path = 'new/dir/f.txt', content = 'l1\nl2\n' })]])
    local shown = child.lua('return prompt_lines()')
    ok(vim.tbl_contains(shown, '+l1'), vim.inspect(shown))
    answer(child, 'a')
    local r = child.lua('return replies[...]', { id }).result
    eq(true, r.created)
    local buf = child.lua('return bufof(...)', { root .. '/new/dir/f.txt' })
    eq({ 'l1', 'l2' }, child.lua('return blines(...)', { buf }))
    eq(nil, uv.fs_stat(root .. '/new'), 'no directories made without write')
    eq(false, child.lua('return vim.api.nvim_get_current_buf() == ...', { buf }), 'not displayed')
    -- rejected: nothing
    id = child.lua([[return req('editor/createFile', { path = 'g.txt', content = 'x' })]])
    child.wait('prompt_lines() ~= nil')
    answer(child, 'r')
    eq(false, child.lua('return replies[...]', { id }).result.created)
    eq(vim.NIL, child.lua('return bufof(...) or vim.NIL', { root .. '/g.txt' }))
  end)

  it('with write = true makes the parent directories and writes the file', function()
    local child, root = setup({ auto_approve = true, write = true })
    local r = call(child, 'editor/createFile', { path = 'a/b/c.txt', content = 'hi\n' }).result
    eq(true, r.created)
    eq('hi\n', read_file(root .. '/a/b/c.txt'))
  end)
end)
