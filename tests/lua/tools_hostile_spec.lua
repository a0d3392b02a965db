-- quill.tools against hostile tool calls and a hostile workspace: a path or pattern
-- is data (never expanded, never run), control characters are refused, listings are
-- linear and bounded, git runs asynchronously with no repository-chosen program,
-- edits are size-capped, nothing is written under .git and secrets are asked for.
local h = require('harness')
local eq, ok = h.eq, h.ok
local uv = vim.uv or vim.loop
local tc = require('tools_child')
local setup, call, answer, ask = tc.setup, tc.call, tc.answer, tc.ask
local write_file, read_file = h.write_file, h.read_file

local FFFD = '\239\191\189'

local function err_of(child, method, params)
  local r = call(child, method, params)
  ok(r.error, method .. ' ' .. vim.inspect(params) .. ' gave ' .. vim.inspect(r.result))
  return r.error
end

-- A `git` first on the child's PATH that logs its arguments to <dir>/args, sleeps
-- `delay` seconds, then runs the real git.
local function fake_git(child, delay)
  local dir = h.temp_dir()
  local real = vim.fn.exepath('git')
  write_file(dir .. '/git', ('#!/bin/sh\nprintf "%%s\\n" "$@" >> "%s/args"\nsleep %s\nexec "%s" "$@"\n'):format(dir, delay, real))
  uv.fs_chmod(dir .. '/git', 493)
  child.lua([[vim.env.PATH = ... .. ':' .. vim.env.PATH]], { dir })
  return dir
end

describe('tools: paths are data', function()
  it('never expands ~ or runs backticks; a literal ~name file is just a file', function()
    local child, root = setup({ auto_approve = true, write = true })
    local marker = h.temp_dir() .. '/pwned'
    local evil = '~/`touch ' .. marker .. '`'
    local errors = {}
    for _, a in ipairs({
      { 'editor/readFile', { path = evil } },
      { 'editor/applyEdit', { path = evil, oldText = 'a', newText = 'b' } },
      { 'editor/createFile', { path = evil, content = 'x' } },
      { 'editor/readFile', { path = '~' } },
    }) do
      table.insert(errors, err_of(child, a[1], a[2]))
    end
    eq(nil, uv.fs_stat(marker), 'the backtick command did not run')
    for _, err in ipairs(errors) do
      eq(-32001, err.code)
      h.matches("'~' is not expanded", err.message)
    end
    -- $VAR and backticks elsewhere are literal names too
    eq(-32001, err_of(child, 'editor/readFile', { path = 'x/`touch ' .. marker .. '`' }).code)
    eq(-32001, err_of(child, 'editor/readFile', { path = '$HOME/.bashrc' }).code)
    eq(nil, uv.fs_stat(marker))
    write_file(root .. '/~notes', 'tilde\n')
    eq('tilde\n', call(child, 'editor/readFile', { path = '~notes' }).result.content)
  end)

  it('refuses control characters and invalid UTF-8 in every path and pattern; later edits still work', function()
    local child, root = setup()
    write_file(root .. '/e.txt', 'one\n')
    local bad = {
      { 'a\nb.txt', 'control character' },
      { 'a\0b.txt', 'control character' },
      { 'a\rb.txt', 'control character' },
      { 'a\127b.txt', 'control character' },
      { 'a\194\133b.txt', 'control character %(U%+0085%)' },
      { 'caf\233.txt', 'not valid UTF%-8' },
    }
    for _, b in ipairs(bad) do
      for _, a in ipairs({
        { 'editor/readFile', { path = b[1] } },
        { 'editor/applyEdit', { path = b[1], oldText = 'one', newText = 'two' } },
        { 'editor/createFile', { path = b[1], content = 'x' } },
        { 'editor/listFiles', { pattern = b[1] } },
      }) do
        local err = err_of(child, a[1], a[2])
        eq(-32001, err.code, vim.inspect(a))
        h.matches(b[2], err.message, vim.inspect(a))
        ok(not err.message:find('[%z\1-\31\127\128-\255]'), 'the message is plain text: ' .. err.message)
      end
    end
    eq(0, child.lua('return float_count()'), 'no review opened')
    -- the review queue still works
    local id = ask(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'one', newText = 'two' })
    child.wait('prompt_lines() ~= nil')
    answer(child, 'a')
    eq(true, child.lua('return replies[...]', { id }).result.applied)
  end)
end)

describe('tools: list_files is linear and bounded', function()
  it('matches a pattern of many *? pairs at once (no backtracking blow-up)', function()
    local child, root = setup()
    write_file(root .. '/' .. string.rep('a', 80), 'x')
    write_file(root .. '/' .. string.rep('b', 30) .. 'x', 'x')
    write_file(root .. '/short-x', 'x')
    -- as a Lua pattern this takes hours on the 80-character name
    local r = call(child, 'editor/listFiles', { pattern = string.rep('*?', 20) .. 'x' }).result
    eq({ files = { string.rep('b', 30) .. 'x' }, truncated = false }, r)
    local err = err_of(child, 'editor/listFiles', { pattern = string.rep('*', 257) })
    h.matches('longer than 256', err.message)
  end)

  it('glob semantics: * and ? within a segment, ** across, UTF-8 characters', function()
    local child = setup()
    local res = child.lua([[
      local glob = require('quill.workspace').glob
      local cases = ...
      local out = {}
      for i, c in ipairs(cases) do out[i] = glob(c[1])(c[2]) end
      return out
    ]], { {
      { '*.lua', 'a.lua' }, { '*.lua', 'src/a.lua' }, { '**/*.lua', 'a.lua' }, { '**/*.lua', 'a/b/c.lua' },
      { 'src/**', 'src/a/b' }, { 'src/**', 'src' }, { 'a/**/b', 'a/b' }, { 'a/**/b', 'a/x/y/b' },
      { 'a/**/b', 'a/x/y/c' }, { '?.txt', 'é.txt' }, { '*a*b*c', 'xxaxxbxxc' }, { '*a*b*c', 'xxaxxcxxb' },
      { '**/**/**/x', 'x' }, { 'src/', 'src/deep/f' }, { './*.c', 'm.c' },
    } })
    -- `**` may match no segment, so 'src/**' matches 'src' itself (listings hold files only)
    eq({ true, false, true, true, true, true, true, true, false, true, true, false, true, true, true }, res)
  end)

  it('finds matches behind 100,000 unmatched files (the cap counts matches)', function()
    local child, root = setup()
    vim.fn.mkdir(root .. '/node_modules', 'p')
    vim.fn.system({ 'sh', '-c', 'cd "$1" && seq 1 100000 | xargs touch', 'sh', root .. '/node_modules' })
    eq(0, vim.v.shell_error)
    local want = {}
    for i = 1, 20 do
      local rel = ('src%02d/m.lua'):format(i)
      write_file(root .. '/' .. rel, 'x')
      table.insert(want, rel)
    end
    local r = call(child, 'editor/listFiles', { pattern = '**/m.lua' })
    eq({ files = want, truncated = false }, r.result)
  end)

  it('a walk that stops early says truncated', function()
    local child, root = setup({ max_files = 5000 })
    vim.fn.system({ 'sh', '-c', 'cd "$1" && seq 1 300 | xargs touch', 'sh', root })
    child.lua([[require('quill.tools').walk_max_entries = 100]])
    local r = call(child, 'editor/listFiles', {}).result
    eq(true, r.truncated)
    ok(#r.files <= 100, #r.files .. ' files')
  end)

  it('runs git asynchronously (the loop keeps running) without repository-chosen programs', function()
    local child, root = setup()
    vim.fn.system({ 'git', 'init', '-q', root })
    write_file(root .. '/a.txt', 'x')
    local dir = fake_git(child, 0.5)
    child.lua([[
      _G.ticks = 0
      _G.timer = (vim.uv or vim.loop).new_timer()
      _G.timer:start(10, 10, function() _G.ticks = _G.ticks + 1 end)
      require('fake_transport').on_reply = function() _G.ticks_at_reply = _G.ticks end
    ]])
    local id = child.lua([[return req('editor/listFiles', {})]])
    eq(vim.NIL, child.lua('return replies[...] or vim.NIL', { id }), 'answered later, not from a blocking call')
    child.wait(('replies[%d] ~= nil'):format(id), 10000)
    eq({ 'a.txt' }, child.lua('return replies[...]', { id }).result.files)
    ok(child.lua('return ticks_at_reply') >= 10, 'a timer fired while git ran')
    local args = read_file(dir .. '/args')
    h.matches('core%.fsmonitor=false', args)
    h.matches('core%.hooksPath=/dev/null', args)
  end)

  it('falls back to walking the tree when git hangs', function()
    local child, root = setup()
    vim.fn.system({ 'git', 'init', '-q', root })
    write_file(root .. '/a.txt', 'x')
    fake_git(child, 5)
    child.lua([[require('quill.workspace').git_timeout_ms = 200]])
    eq({ 'a.txt' }, call(child, 'editor/listFiles', {}).result.files)
  end)

  it('leaves out names that are not text, .git, and files on the deny list', function()
    local child, root = setup()
    for _, f in ipairs({ 'ok.txt', 'bad\255.txt', 'nl\nname.txt', '.env', 'deploy.pem', 'sub/.ENV.local', '.git/config' }) do
      write_file(root .. '/' .. f, 'x')
    end
    eq({ files = { 'ok.txt' }, truncated = false }, call(child, 'editor/listFiles', {}).result)
  end)
end)

describe('tools: edits are bounded', function()
  it('refuses a file over tools.max_edit_bytes without loading it', function()
    local child, root = setup()
    write_file(root .. '/big.txt', string.rep(string.rep('x', 1023) .. '\n', 2048) .. 'needle\n')
    local id = ask(child, 'editor/applyEdit', { path = 'big.txt', oldText = 'needle', newText = 'y' })
    eq(-1, child.lua('return vim.fn.bufnr(...)', { root .. '/big.txt' }), 'no buffer was made')
    local err = child.lua('return replies[...]', { id }).error
    eq(-32001, err.code)
    h.matches('max_edit_bytes', err.message)
    eq(-1, child.lua('return vim.fn.bufnr(...)', { root .. '/big.txt' }), 'no buffer was made')
    eq(0, child.lua('return float_count()'))
  end)

  it('the diff covers the hunk around the match, with the right line numbers', function()
    local child, root = setup()
    local lines = {}
    for i = 1, 200 do
      lines[i] = 'line ' .. i
    end
    write_file(root .. '/l.txt', table.concat(lines, '\n'))
    local id = ask(child, 'editor/applyEdit', { path = 'l.txt', oldText = 'line 150\n', newText = 'L150\nL150b\n' })
    local shown = child.lua('return prompt_lines()')
    ok(vim.tbl_contains(shown, '@@ -147,7 +147,8 @@'), vim.inspect(shown))
    ok(vim.tbl_contains(shown, '-line 150'), vim.inspect(shown))
    ok(vim.tbl_contains(shown, ' line 147'), vim.inspect(shown))
    ok(not vim.tbl_contains(shown, ' line 146'), vim.inspect(shown))
    child.lua('cancel(...)', { id })
    -- at the end of a file without a final newline
    id = ask(child, 'editor/applyEdit', { path = 'l.txt', oldText = 'line 200', newText = 'end' })
    shown = child.lua('return prompt_lines()')
    ok(vim.tbl_contains(shown, '@@ -197,4 +197,4 @@'), vim.inspect(shown))
    ok(vim.tbl_contains(shown, '+end'), vim.inspect(shown))
    answer(child, 'a')
    eq(true, child.lua('return replies[...]', { id }).result.applied)
    eq('end', child.lua('return blines(bufof(...))[200]', { root .. '/l.txt' }))
  end)

  it('create_file confines again at accept time (a parent swapped for a symlink)', function()
    local child, root = setup({ write = true })
    local outside = h.temp_dir() -- outside the workspace
    vim.fn.mkdir(root .. '/sub', 'p')
    local id = child.lua([[return req('editor/createFile', { path = 'sub/new.txt', content = 'x\n' })]])
    child.wait('prompt_lines() ~= nil')
    vim.fn.delete(root .. '/sub', 'd')
    uv.fs_symlink(outside, root .. '/sub')
    answer(child, 'a')
    local r = child.lua('return replies[...]', { id })
    eq(nil, r.result)
    h.matches('outside the workspace', r.error.message)
    eq(nil, uv.fs_stat(outside .. '/new.txt'), 'nothing written outside')
    eq(-1, child.lua('return vim.fn.bufnr(...)', { outside .. '/new.txt' }))
    -- created meanwhile: refused too
    vim.fn.delete(root .. '/sub')
    id = child.lua([[return req('editor/createFile', { path = 'late.txt', content = 'mine\n' })]])
    child.wait('prompt_lines() ~= nil')
    write_file(root .. '/late.txt', 'theirs\n')
    answer(child, 'a')
    h.matches('created meanwhile', child.lua('return replies[...]', { id }).error.message)
    eq('theirs\n', read_file(root .. '/late.txt'))
  end)

  it('never writes under .git (any case, any depth)', function()
    local child, root = setup({ auto_approve = true, write = true })
    write_file(root .. '/.git/config', '[core]\n')
    write_file(root .. '/sub/.Git/HEAD', 'ref\n')
    for _, a in ipairs({
      { 'editor/applyEdit', { path = '.git/config', oldText = '[core]', newText = '[core]\n\tfsmonitor = evil' } },
      { 'editor/applyEdit', { path = 'sub/.Git/HEAD', oldText = 'ref', newText = 'x' } },
      { 'editor/createFile', { path = '.git/hooks/post-checkout', content = '#!/bin/sh\n' } },
      { 'editor/createFile', { path = '.GIT/hooks/pre-commit', content = '#!/bin/sh\n' } },
    }) do
      local err = err_of(child, a[1], a[2])
      eq(-32001, err.code)
      h.matches('inside %.git', err.message)
    end
    eq('[core]\n', read_file(root .. '/.git/config'))
    eq(nil, uv.fs_stat(root .. '/.git/hooks'))
  end)
end)

describe('tools: secrets are asked for', function()
  it('a read of .env asks even with auto_approve; reject refuses, accept shares', function()
    local child, root = setup({ auto_approve = true })
    write_file(root .. '/.env', 'API_KEY=hunter2\n')
    local id = child.lua([[return req('editor/readFile', { path = '.env' })]])
    child.wait('prompt_lines() ~= nil')
    eq(true, child.lua([[return require('quill.review').current_prompt().secret]]))
    eq(vim.NIL, child.lua('return replies[...] or vim.NIL', { id }), 'nothing answered before the user chose')
    answer(child, 'r')
    eq({ code = -32001, message = 'the user refused to share this file' }, child.lua('return replies[...]', { id }).error)
    id = child.lua([[return req('editor/readFile', { path = '.env' })]])
    child.wait('prompt_lines() ~= nil')
    answer(child, 'a')
    eq('API_KEY=hunter2\n', child.lua('return replies[...]', { id }).result.content)
  end)

  it('asks for .git/, keys and git-ignored files; not for plain ones', function()
    local child, root = setup()
    vim.fn.system({ 'git', 'init', '-q', root })
    write_file(root .. '/.gitignore', 'private.txt\n')
    write_file(root .. '/private.txt', 'p\n')
    write_file(root .. '/keys/id_ed25519', 'k\n')
    write_file(root .. '/plain.txt', 'plain\n')
    eq('plain\n', call(child, 'editor/readFile', { path = 'plain.txt' }).result.content)
    for _, path in ipairs({ 'private.txt', '.git/HEAD', 'keys/id_ed25519', '.GIT/config' }) do
      local id = child.lua('return req(...)', { 'editor/readFile', { path = path } })
      child.wait('prompt_lines() ~= nil', 5000)
      eq(vim.NIL, child.lua('return replies[...] or vim.NIL', { id }), path)
      answer(child, 'r')
      h.matches('refused', child.lua('return replies[...]', { id }).error.message)
    end
    -- a symlink to a secret is the secret
    uv.fs_symlink(root .. '/.env', root .. '/notes.txt')
    write_file(root .. '/.env', 'K=v\n')
    local id = child.lua([[return req('editor/readFile', { path = 'notes.txt' })]])
    child.wait('prompt_lines() ~= nil')
    answer(child, 'r')
    h.matches('refused', child.lua('return replies[...]', { id }).error.message)
  end)

  it("deny_policy = 'refuse' refuses without asking; tools.deny replaces the list", function()
    local child, root = setup({ deny_policy = 'refuse', deny = { '*.secret' } })
    write_file(root .. '/a.secret', 's\n')
    write_file(root .. '/.env', 'e\n')
    local err = err_of(child, 'editor/readFile', { path = 'a.secret' })
    h.matches("on the deny list %('%*%.secret'%); reading it is refused", err.message)
    eq(0, child.lua('return float_count()'))
    eq('e\n', call(child, 'editor/readFile', { path = '.env' }).result.content)
  end)
end)

describe('tools: text sent is valid UTF-8', function()
  it('replaces invalid bytes of a Latin-1 file or a buffer with U+FFFD', function()
    local child, root = setup()
    write_file(root .. '/latin1.txt', 'caf\233 cr\232me\n')
    eq({ content = 'caf' .. FFFD .. ' cr' .. FFFD .. 'me\n', truncated = false },
      call(child, 'editor/readFile', { path = 'latin1.txt' }).result)
    write_file(root .. '/b.txt', 'x\n')
    child.lua([[
      vim.cmd('edit ' .. vim.fn.fnameescape(... .. '/b.txt'))
      vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'raw \255\254 bytes', 'é ok' })
    ]], { root })
    eq('raw ' .. FFFD .. FFFD .. ' bytes\né ok\n', call(child, 'editor/readFile', { path = 'b.txt' }).result.content)
  end)
end)

describe('tools: the security review (second round)', function()
  it('read_file cuts a long line with no newline at once, on a UTF-8 boundary', function()
    -- the old cut ran '.*()\n' over the first max_read_bytes: ~30 min for 200 KiB
    local child, root = setup()
    write_file(root .. '/one.txt', string.rep('é', 150000)) -- 300,000 bytes, no newline
    local r = call(child, 'editor/readFile', { path = 'one.txt' }).result
    eq(true, r.truncated)
    eq(string.rep('é', 102400), r.content, 'cut at max_read_bytes on a character boundary')
    write_file(root .. '/nl.txt', string.rep('a', 150000) .. '\n' .. string.rep('b', 100000))
    r = call(child, 'editor/readFile', { path = 'nl.txt' }).result
    eq(string.rep('a', 150000) .. '\n', r.content, 'cut after the last newline of the second half')
  end)

  it('list_files keeps the loop running while it filters, however slow the matcher', function()
    for _, git in ipairs({ false, true }) do
      local child, root = setup()
      if git then
        vim.fn.system({ 'git', 'init', '-q', root })
      end
      vim.fn.system({ 'sh', '-c', 'cd "$1" && seq 1 300 | xargs touch', 'sh', root })
      child.lua([[
        local uv = vim.uv or vim.loop
        -- a matcher that costs 1 ms a path (a stand-in for a costly pattern)
        require('quill.tools').glob = function()
          return function()
            local t = uv.hrtime()
            while uv.hrtime() - t < 1e6 do end
            return true
          end
        end
        _G.ticks = 0
        _G.timer = uv.new_timer()
        _G.timer:start(1, 1, function() _G.ticks = _G.ticks + 1 end)
        require('fake_transport').on_reply = function() _G.ticks_at_reply = _G.ticks end
      ]])
      local r = call(child, 'editor/listFiles', { pattern = '*' }).result
      eq(300, #r.files, git and 'git' or 'walk')
      ok(child.lua('return ticks_at_reply') >= 20, 'a 1 ms timer fired during the work (' .. (git and 'git' or 'walk') .. ')')
    end
  end)

  it('list_files returns the max_files smallest matches, sorted, and says truncated', function()
    local child, root = setup({ max_files = 10 })
    vim.fn.system({ 'sh', '-c', 'cd "$1" && seq 1000 3999 | xargs touch && touch a.txt', 'sh', root })
    local r = call(child, 'editor/listFiles', { pattern = '*' }).result
    local want = { '1000', '1001', '1002', '1003', '1004', '1005', '1006', '1007', '1008', '1009' }
    eq({ files = want, truncated = true }, r)
    eq({ files = { 'a.txt' }, truncated = false }, call(child, 'editor/listFiles', { pattern = '*.txt' }).result)
  end)

  it('create_file and edit_file refuse text over tools.max_edit_bytes', function()
    local child, root = setup({ max_edit_bytes = 1000 })
    write_file(root .. '/f.txt', 'x = 1\n')
    local big = string.rep('x\n', 501)
    h.matches('content is 1002 bytes, more than tools.max_edit_bytes %(1000%)',
      err_of(child, 'editor/createFile', { path = 'big.py', content = big }).message)
    h.matches('new_text is 1002 bytes, more than tools.max_edit_bytes',
      err_of(child, 'editor/applyEdit', { path = 'f.txt', oldText = 'x = 1', newText = big }).message)
    h.matches('old_text is 1002 bytes, more than tools.max_edit_bytes',
      err_of(child, 'editor/applyEdit', { path = 'f.txt', oldText = big, newText = 'y' }).message)
    eq(0, child.lua('return float_count()'), 'no review opened')
  end)

  it('the review shows at most 2,000 lines of a big new file and says the rest is written', function()
    local child, root = setup({ write = true })
    local lines = {}
    for i = 1, 5000 do
      lines[i] = 'line ' .. i
    end
    local content = table.concat(lines, '\n') .. '\n'
    local id = ask(child, 'editor/createFile', { path = 'big.txt', content = content })
    local shown = child.lua('return prompt_lines()')
    ok(#shown < 2020, #shown .. ' lines in the review buffer')
    eq('… 3003 more lines not shown — the whole text will be written', shown[#shown])
    ok(vim.tbl_contains(shown, '+line 1997'), 'the first lines are shown')
    ok(not vim.tbl_contains(shown, '+line 1998'))
    answer(child, 'a')
    eq(true, child.lua('return replies[...]', { id }).result.created)
    eq(content, read_file(root .. '/big.txt'), 'the whole text was written')
    -- an edit whose new text is too big for a quick diff: all old lines out, new ones in
    write_file(root .. '/e.txt', 'a\nb\nc\n')
    id = ask(child, 'editor/applyEdit', { path = 'e.txt', oldText = 'b\n', newText = string.rep('y\n', 40000) })
    shown = child.lua('return prompt_lines()')
    ok(vim.tbl_contains(shown, '@@ -1,3 +1,40002 @@'), vim.inspect({ unpack(shown, 1, 12) }))
    ok(vim.tbl_contains(shown, '-b'))
    h.matches('^… %d+ more lines not shown', shown[#shown])
    answer(child, 'a')
    eq(40002, child.lua('return #blines(bufof(...))', { root .. '/e.txt' }))
  end)

  it('edit_file refuses a secret file outright, the same whatever old_text is', function()
    for _, policy in ipairs({ 'refuse', 'ask' }) do
      local child, root = setup({ deny_policy = policy })
      vim.fn.system({ 'git', 'init', '-q', root })
      write_file(root .. '/.gitignore', 'local.cfg\n')
      write_file(root .. '/.env', 'API_KEY=sk-abc123\n')
      write_file(root .. '/local.cfg', 'token=t0k3n\n')
      for _, path in ipairs({ '.env', 'local.cfg' }) do
        local answers = {}
        for _, guess in ipairs({ 'API_KEY=sk-a', 'API_KEY=sk-b', 'token=t', '=' }) do
          local r = call(child, 'editor/applyEdit', { path = path, oldText = guess, newText = guess })
          ok(r.error, path .. ': ' .. vim.inspect(r))
          table.insert(answers, r.error.message)
          eq(0, child.lua('return float_count()'), 'nothing asked')
        end
        for i = 2, #answers do
          eq(answers[1], answers[i], 'the answer does not depend on old_text')
        end
        h.matches('edit_file refuses it', answers[1])
      end
      eq('API_KEY=sk-abc123\n', read_file(root .. '/.env'))
      eq(-1, child.lua('return vim.fn.bufnr(...)', { root .. '/.env' }), 'never loaded')
    end
  end)

  it('git-ignored: nested repositories count, pathspec magic is literal, a git failure asks', function()
    local child, root = setup()
    -- the root is no repository; a repository below it ignores its own file
    vim.fn.system({ 'git', 'init', '-q', root .. '/repo1' })
    write_file(root .. '/repo1/.gitignore', 'prod.tfvars\n')
    write_file(root .. '/repo1/prod.tfvars', 'pw\n')
    write_file(root .. '/plain.txt', 'plain\n')
    eq('plain\n', call(child, 'editor/readFile', { path = 'plain.txt' }).result.content, 'no repository: not ignored')
    local function asks(path)
      local id = ask(child, 'editor/readFile', { path = path })
      eq(vim.NIL, child.lua('return replies[...] or vim.NIL', { id }), path .. ' was read without asking')
      answer(child, 'r')
      h.matches('refused', child.lua('return replies[...]', { id }).error.message)
    end
    asks('repo1/prod.tfvars')
    -- names that look like pathspec magic or options
    write_file(root .. '/repo1/.gitignore', 'prod.tfvars\n*.secret\n')
    for _, name in ipairs({ ':!b.secret', ':(top)c.secret', '-d.secret' }) do
      write_file(root .. '/repo1/' .. name, 's\n')
      asks('repo1/' .. name)
    end
    write_file(root .. '/repo1/ok.txt', 'ok\n')
    eq('ok\n', call(child, 'editor/readFile', { path = 'repo1/ok.txt' }).result.content)
    -- git fails in another way (here: exit 2): ask
    local dir = h.temp_dir()
    write_file(dir .. '/git', '#!/bin/sh\necho "fatal: something broke" >&2\nexit 2\n')
    uv.fs_chmod(dir .. '/git', 493)
    child.lua([[vim.env.PATH = ... .. ':' .. vim.env.PATH]], { dir })
    asks('repo1/ok.txt')
  end)

  it('never writes inside a git directory with another name (a bare repository)', function()
    local child, root = setup({ auto_approve = true, write = true })
    vim.fn.system({ 'git', 'init', '-q', '--bare', root .. '/fixtures/repo.git' })
    local before = read_file(root .. '/fixtures/repo.git/config')
    for _, a in ipairs({
      { 'editor/createFile', { path = 'fixtures/repo.git/hooks/post-update', content = '#!/bin/sh\nid\n' } },
      { 'editor/createFile', { path = 'fixtures/repo.git/new', content = 'x' } },
      { 'editor/applyEdit', { path = 'fixtures/repo.git/config', oldText = 'bare = true', newText = 'fsmonitor = evil' } },
    }) do
      h.matches("inside the git directory 'fixtures/repo.git'", err_of(child, a[1], a[2]).message)
    end
    eq(nil, uv.fs_stat(root .. '/fixtures/repo.git/hooks/post-update'))
    eq(before, read_file(root .. '/fixtures/repo.git/config'))
    -- a directory merely named like one is fine
    eq(true, call(child, 'editor/createFile', { path = 'fixtures/HEAD/x.txt', content = 'x' }).result.created)
  end)

  it('a read past what is read of a huge file says truncated', function()
    local child, root = setup()
    local line = string.rep('x', 63) .. '\n'
    write_file(root .. '/huge.txt', string.rep(line, 1100000)) -- 70 MB
    local r = call(child, 'editor/readFile', { path = 'huge.txt', startLine = 1090000 }).result
    eq(true, r.truncated, 'the file holds more than was read')
    r = call(child, 'editor/readFile', { path = 'huge.txt', startLine = 2, endLine = 3 }).result
    eq({ content = line .. line, truncated = false }, r)
  end)

  it('create_file and edit_file refuse a path naming a directory', function()
    local child, root = setup({ auto_approve = true, write = true })
    vim.fn.mkdir(root .. '/d', 'p')
    for _, a in ipairs({
      { 'editor/createFile', { path = 'dir/', content = 'x' } },
      { 'editor/createFile', { path = 'd/.', content = 'x' } },
      { 'editor/applyEdit', { path = 'd/', oldText = 'a', newText = 'b' } },
    }) do
      h.matches('names a directory', err_of(child, a[1], a[2]).message)
    end
    eq(nil, uv.fs_stat(root .. '/dir'))
  end)
end)
