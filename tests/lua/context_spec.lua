-- The editor's context in a question (the real plugin and backend, the fake server): #buffer with
-- its unsaved text, #buffer:NAME, #selection, #diagnostics and #file:PATH, confined, capped, shown
-- as one line each, kept in the conversation as the model saw them.
local h = require('harness')
local e2e = require('e2e')
local eq, ok = h.eq, h.ok

local function settle(child)
  child.wait([[not require('quill').status().busy]], 10000)
end

-- A child with a workspace holding src/main.lua and .env, the file open with an unsaved change.
local function setup(opts)
  local url = e2e.start_fake()
  local root = h.temp_dir()
  h.write_file(root .. '/src/main.lua', 'local x = 1\nreturn x\n')
  h.write_file(root .. '/.env', 'TOKEN=secret\n')
  h.write_file(root .. '/../outside.txt', 'not yours\n')
  local child = e2e.child(url, vim.tbl_extend('force', { model = 'text?tokens=2', workspace_root = root }, opts or {}))
  child.cmd('cd ' .. vim.fn.fnameescape(root))
  child.cmd('edit src/main.lua')
  child.lua([[vim.api.nvim_buf_set_lines(0, 0, 1, false, { 'local x = 2 -- not saved' })]])
  return child, url, root
end

local function sent(url)
  local messages = e2e.fake_stats(url).last_request.messages
  return messages[#messages].content
end

describe('context in a question', function()
  it('#buffer sends the buffer the user came from, unsaved text included, and shows one line', function()
    local child, url = setup()
    child.cmd('QuillChat explain #buffer')
    settle(child)
    local content = sent(url)
    h.matches('^explain #buffer\n\n%[#buffer: buffer src/main%.lua%]\n```lua\nlocal x = 2 %-%- not saved\nreturn x\n```$', content)
    local lines = child.lua('return chat_lines()')
    eq({ '## You', '', 'explain #buffer', '', '# buffer src/main.lua, 2 lines, unsaved changes included', '', '## Assistant' },
      { unpack(lines, 1, 7) })
    -- typed in the chat buffer, #buffer is still the file the user came from
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'and #buffer:main.lua again' })]])
    child.lua([[require('quill.chat').send()]])
    settle(child)
    h.matches('%[#buffer:main%.lua: buffer src/main%.lua%]\n```lua\nlocal x = 2', sent(url))
    -- the conversation keeps what the model saw; the buffer, rebuilt, shows what was typed
    local history = child.lua([[return require('quill.chat').history()]])
    h.matches('not saved', history[1].content)
    child.lua([[vim.cmd('bwipeout! ' .. require('quill.chat').state().buf)]])
    child.cmd('QuillChat')
    lines = child.lua('return chat_lines()')
    eq('explain #buffer', lines[3])
    eq('# buffer src/main.lua, 2 lines, unsaved changes included', lines[5])
  end)

  it('#file:PATH attaches a workspace file; outside, denied or missing ones are refused, saying why', function()
    local child, url = setup()
    child.cmd('QuillChat look #file:src/main.lua #file:../outside.txt #file:.env #file:nope.txt #file:.git/config')
    settle(child)
    local content = sent(url)
    h.matches('%[#file:src/main%.lua: file src/main%.lua%]\n```lua\nlocal x = 2', content) -- the buffer's text
    ok(not content:find('not yours', 1, true), 'nothing from outside the workspace')
    ok(not content:find('secret', 1, true), 'nothing from the deny list')
    local lines = child.lua('return chat_lines()')
    local labels = { unpack(lines, 5, 9) }
    h.matches('^# file src/main%.lua, 2 lines, unsaved changes included$', labels[1])
    h.matches('^# file:%.%./outside%.txt: not attached: .*outside the workspace', labels[2])
    h.matches("^# file:%.env: not attached: %.env is on the deny list %('%.env%*'%)$", labels[3])
    h.matches('^# file:nope%.txt: not attached: file not found', labels[4])
    h.matches('^# file:%.git/config: not attached: ', labels[5])
  end)

  it('#selection is the range of :QuillChat or the last visual selection; #diagnostics lists them', function()
    local child, url = setup()
    child.cmd('2,2QuillChat what does this do')
    settle(child)
    h.matches('^what does this do #selection\n\n%[#selection: selection src/main%.lua:2%-2%]\n```lua\nreturn x\n```$', sent(url))
    child.cmd('wincmd p')
    child.lua([[
      local ns = vim.api.nvim_create_namespace('test')
      vim.diagnostic.set(ns, 0, { { lnum = 0, col = 0, message = 'x is\nshadowed', severity = vim.diagnostic.severity.WARN, source = 'lint' } })
    ]])
    child.cmd('normal! ggVj\27')
    child.cmd('QuillChat fix #diagnostics in #selection')
    settle(child)
    local content = sent(url)
    h.matches('%[#diagnostics: diagnostics of src/main%.lua%]\n```\nline 1: warning: x is shadowed %(lint%)\n```', content)
    h.matches('%[#selection: selection src/main%.lua:1%-2%]', content)
  end)

  it('holds to chat.max_context_bytes, saying where it cut', function()
    local child, url = setup({ chat = { max_context_bytes = 30 } })
    child.lua([[vim.api.nvim_buf_set_lines(0, 0, -1, false, vim.fn['repeat']({ 'abcdefghij' }, 10))]])
    child.cmd('QuillChat #buffer and #file:src/main.lua')
    settle(child)
    local content = sent(url)
    local first = content:match('```lua\n(.-)\n```')
    local total = 0
    for body in content:gmatch('```lua\n(.-)\n```') do
      total = total + #body
    end
    ok(total <= 30, total .. ' bytes in all')
    eq('abcdefghij\nabcdefghij', first, 'cut at a line end')
    h.matches('cut at 21 bytes %(chat%.max_context_bytes%)', content)
    local lines = child.lua('return chat_lines()')
    h.matches(', cut at 21 bytes', lines[5])
    h.matches(', cut at 9 bytes', lines[6], 'what was left of the budget')
  end)

  it('reads references as words only, and fences text that holds fences', function()
    local context = require('quill.context')
    eq({}, context.references('mail me at a#buffer or #nothing or #file: alone'))
    eq({ { kind = 'buffer', token = '#buffer' }, { kind = 'file', arg = 'a.lua', token = '#file:a.lua' } },
      context.references('#buffer, then #file:a.lua. and #buffer again'))
    local child, url = setup()
    child.lua([[vim.api.nvim_buf_set_lines(0, 0, -1, false, { '````', 'x', '````' })]])
    child.cmd('QuillChat #buffer')
    settle(child)
    h.matches('\n`````lua\n````\nx\n````\n`````$', sent(url))
  end)

  it('attacks: completion runs nothing and walks nothing; long names, many references and odd names', function()
    local child, url, root = setup()
    local marker = root .. '/pwned'
    -- Vim's file completion would run the backticks and walk **
    eq({}, child.lua([[return require('quill.context').candidates(...)]], { '#file:`touch${IFS}' .. marker .. '`' }))
    eq({}, child.lua([[return require('quill.context').candidates(...)]], { '#file:`=system("touch ' .. marker .. '")`' }))
    eq({}, child.lua([[return require('quill.context').candidates('#file:/usr/**/')]]), 'outside the workspace')
    eq(0, vim.fn.filereadable(marker))
    -- a name too long for any path is no reference (and no quadratic trim of its dots)
    eq({}, child.lua([[return require('quill.context').references('#file:x' .. string.rep('.', 400000) .. 'y')]]))
    eq('x', child.lua([[return require('quill.context').references('#file:x' .. string.rep('.', 4000))[1].arg]]))
    -- twenty references to one file: read once; what the budget cannot hold is not read
    local refs = {}
    for i = 1, 20 do
      refs[i] = '#file:' .. string.rep('./', i) .. 'src/main.lua'
    end
    child.lua([[require('quill.config').get().chat.max_context_bytes = 40]])
    child.cmd('QuillChat ' .. table.concat(refs, ' '))
    settle(child)
    local lines = child.lua('return chat_lines()')
    h.matches('^# file src/main%.lua, 2 lines', lines[5])
    h.matches('not attached: already attached$', lines[6])
    -- a file name with a line break and an escape is shown as one line
    local odd = 'evil\nname\27.txt'
    h.write_file(root .. '/' .. odd, 'odd\n')
    vim.loop.fs_symlink(root .. '/' .. odd, root .. '/ok.txt')
    child.cmd('QuillNew #file:ok.txt')
    settle(child)
    lines = child.lua('return chat_lines()')
    eq('# file evil?name?.txt, 1 line', lines[5])
    h.matches('%[#file:ok%.txt: file evil%?name%?%.txt%]\n```txt\nodd\n```$', sent(url))
  end)

  it('completes the references in the chat buffer', function()
    local child = setup()
    child.cmd('QuillChat')
    eq("v:lua.require'quill.context'.omnifunc", child.lua('return vim.bo.omnifunc'))
    local words = child.lua([[return vim.tbl_map(function(c) return c.word end, require('quill.context').candidates('#'))]])
    eq({ '#buffer', '#buffer:', '#selection', '#diagnostics', '#file:' }, words)
    eq({ '#buffer:src/main.lua' }, child.lua([[return vim.tbl_map(function(c) return c.word end,
      require('quill.context').candidates('#buffer:'))]]))
    eq({ '#file:src/main.lua' }, child.lua([[return vim.tbl_map(function(c) return c.word end,
      require('quill.context').candidates('#file:src/m'))]]))
    -- through the real <C-x><C-o>
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'see #sel' })]])
    child.cmd('normal! G$')
    child.input('a<C-x><C-o><Esc>')
    child.wait([[vim.api.nvim_get_current_line() == 'see #selection']])
  end)
end)
