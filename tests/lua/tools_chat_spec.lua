-- Tool calls in the chat with a stubbed backend (see stub.lua): the
-- models/show gate, the chat/send params and the call blocks.
local h = require('harness')
local stub = require('stub')
local eq, ok = h.eq, h.ok

local TOOLS = { 'read_file', 'list_files', 'edit_file', 'create_file' }

local function child_with_tools()
  local child = stub.child()
  child.lua([[
    _G.init_result = { capabilities = { tools = ... } }
    _G.note = function(id, call, status, message)
      fake.send({ jsonrpc = '2.0', method = 'chat/toolCall',
        params = { chatId = id, call = call, status = status, message = message } })
    end
    _G.chat = function()
      return vim.api.nvim_buf_get_lines(require('quill.chat').state().buf, 0, -1, false)
    end
    -- highlight groups of the quill extmarks on a row
    _G.groups = function(row)
      local out = {}
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(require('quill.chat').state().buf,
          require('quill.stream').ns, { row, 0 }, { row, -1 }, { details = true })) do
        if m[4].hl_group then table.insert(out, m[4].hl_group) end
      end
      return out
    end
  ]], { TOOLS })
  return child
end

describe('chat with tools', function()
  it('asks models/show once per model, then sends tools and maxRounds', function()
    local child = child_with_tools()
    child.cmd('QuillChat hi')
    eq({ 'models/show', { model = 'llama3.2', endpoint = 'ollama' } }, child.lua('return { reqs[1].method, reqs[1].params }'))
    eq(1, child.lua('return #reqs'), 'chat/send waits for the answer')
    child.lua([[answer(1, nil, { model = 'llama3.2', capabilities = { 'completion', 'tools' } })]])
    local p = child.lua('return params(2)')
    eq('chat/send', child.lua('return reqs[2].method'))
    eq(true, p.tools)
    eq(8, p.maxRounds)
    child.lua([[answer(2, nil, done('chat-1', 'ok'))]])
    -- the second turn uses the cached capabilities
    child.lua([[require('quill.config').get().tools.max_rounds = 3]])
    child.cmd('QuillChat again')
    eq('chat/send', child.lua('return reqs[3].method'))
    eq(3, child.lua('return params(3).maxRounds'))
    child.lua([[answer(3, nil, done('chat-1', 'ok'))]])
    -- tools.offer names the only tools sent
    child.lua([[require('quill.config').get().tools.offer = { 'read_file', 'list_files' }]])
    child.cmd('QuillChat read only')
    eq({ 'read_file', 'list_files' }, child.lua('return params(4).tools'))
  end)

  it('shows a notice and sends no tools when the model lacks them', function()
    local child = child_with_tools()
    child.lua([[require('quill.config').get().model = 'tiny']])
    child.cmd('QuillChat hi')
    child.lua([[answer(1, nil, { model = 'tiny', capabilities = { 'completion' } })]])
    eq(true, child.lua('return params(2).tools == nil'), 'no tools')
    child.lua([[tok('chat-1', 'Hello')]])
    eq({ '## You', '', 'hi', '', '## Assistant', '', 'tools are off: tiny does not support them', '', 'Hello' },
      child.lua('return chat()'))
    eq({ 'QuillTool' }, child.lua('return groups(6)'))
    -- said once per conversation and model, not after every answer
    child.lua([[answer(2, nil, done('chat-1', 'Hello'))]])
    child.cmd('QuillChat again')
    eq(true, child.lua('return params(3).tools == nil'))
    child.lua([[tok('chat-2', 'Hi')]])
    local lines = child.lua('return chat()')
    local said = 0
    for _, l in ipairs(lines) do
      said = said + (l:find('tools are off', 1, true) and 1 or 0)
    end
    eq(1, said, table.concat(lines, '|'))
    -- a new conversation says it again
    child.lua([[answer(3, nil, done('chat-2', 'Hi'))]])
    child.cmd('QuillNew')
    child.lua([[vim.api.nvim_buf_set_lines(0, -2, -1, false, { 'third' })]])
    child.lua([[require('quill.chat').send()]])
    child.wait([[vim.tbl_contains(chat(), 'tools are off: tiny does not support them')]])
  end)

  it('sends without tools when models/show fails, or tools are disabled, or the backend has none', function()
    local child = child_with_tools()
    child.cmd('QuillChat hi')
    child.lua([[answer(1, { code = -32000, message = 'unreachable', data = { kind = 'unreachable' } })]])
    eq('chat/send', child.lua('return reqs[2].method'))
    eq(true, child.lua('return params(2).tools == nil'), 'no tools')
    child.lua([[answer(2, nil, done('chat-1', 'ok'))]])
    child.lua([[require('quill.config').get().tools.enabled = false]])
    child.cmd('QuillChat two')
    eq('chat/send', child.lua('return reqs[3].method'))
    eq(true, child.lua('return params(3).tools == nil'), 'no tools')
    child.lua([[answer(3, nil, done('chat-2', 'ok'))]])
    -- a backend (started again) whose initialize lists no tools
    child.lua([[require('quill.config').get().tools.enabled = true; _G.init_result = { capabilities = {} }]])
    child.lua([[require('quill.backend').stop()]])
    child.cmd('QuillChat three')
    child.wait('#reqs == 4')
    eq('chat/send', child.lua('return reqs[4].method'))
    eq(true, child.lua('return params(4).tools == nil'), 'no tools')
  end)

  it(':QuillTools switches tools for this chat only, and :QuillNew forgets it', function()
    local child = child_with_tools()
    child.cmd('QuillTools off')
    child.cmd('QuillChat hi')
    eq('chat/send', child.lua('return reqs[1].method'), 'no models/show: tools are off')
    eq(true, child.lua('return params(1).tools == nil'), 'no tools')
    child.lua([[answer(1, nil, done('chat-1', 'ok'))]])
    -- on, although the config says off
    child.lua([[require('quill.config').get().tools.enabled = false]])
    child.cmd('QuillTools on')
    child.cmd('QuillChat two')
    eq('models/show', child.lua('return reqs[2].method'))
    child.lua([[answer(2, nil, { model = 'llama3.2', capabilities = { 'tools' } })]])
    eq(true, child.lua('return params(3).tools'))
    child.lua([[answer(3, nil, done('chat-2', 'ok'))]])
    -- a new conversation follows the config again (off)
    child.cmd('QuillNew')
    child.cmd('QuillChat three')
    eq(true, child.lua('return params(4).tools == nil'), 'no tools')
    h.matches("takes 'on' or 'off'", child.lua([[
      local got
      vim.notify = function(m) got = m end
      require('quill.chat').set_tools('maybe')
      return got
    ]]))
  end)

  it('a call whose arguments hold line breaks is still one block line, now and after a rebuild', function()
    local child = child_with_tools()
    child.cmd('QuillChat look')
    child.lua([[answer(1, nil, { model = 'llama3.2', capabilities = { 'tools' } })]])
    child.lua([[
      local call = { name = 'read_file', arguments = { path = 'a\nb', start_line = '1\n2', end_line = '\27[2J' } }
      note('chat-1', call, 'requested')
      note('chat-1', call, 'done')
    ]])
    eq({}, child.lua([[return vim.tbl_filter(function(n) return n.level == vim.log.levels.ERROR end, notes)]]))
    local block = '> `read_file` `a b` lines 1 2- [2J — done'
    eq(block, child.lua('return chat()')[7])
    child.lua([[answer(2, nil, done('chat-1', '', { messages = {
      { role = 'assistant', content = '', toolCalls = { { name = 'read_file',
        arguments = { path = 'a\nb', start_line = '1\n2', end_line = '\27[2J' } } } },
      { role = 'tool', content = 'x', toolName = 'read_file' },
      { role = 'assistant', content = 'ok' } } }))]])
    child.lua([[vim.cmd('bwipeout! ' .. require('quill.chat').state().buf)]])
    child.cmd('QuillChat')
    eq(block, child.lua('return chat()')[7])
  end)

  it('shows each call as a block and streams the text below it', function()
    local child = child_with_tools()
    child.cmd('QuillChat look')
    child.lua([[answer(1, nil, { model = 'llama3.2', capabilities = { 'tools' } })]])
    child.lua([[tok('chat-1', 'Let me look.')]])
    child.lua([[
      local call = { name = 'read_file', arguments = { path = 'src/main.cpp' } }
      note('chat-1', call, 'requested')
    ]])
    eq({ 'Let me look.', '', '> `read_file` `src/main.cpp` …', '', '' }, { unpack(child.lua('return chat()'), 7) })
    eq({ 'QuillTool' }, child.lua('return groups(8)'))
    child.lua([[
      local call = { name = 'read_file', arguments = { path = 'src/main.cpp' } }
      note('chat-1', call, 'done')
      note('chat-1', { name = 'edit_file', arguments = { path = 'a.txt' } }, 'requested')
      note('chat-1', { name = 'edit_file', arguments = { path = 'a.txt' } }, 'rejected', 'the user rejected this edit')
      note('chat-1', { name = 'delete_everything', arguments = {} }, 'requested')
      note('chat-1', { name = 'delete_everything', arguments = {} }, 'failed', 'unknown tool: delete_everything')
      tok('chat-1', 'It is ', 'fine.')
    ]])
    -- text arriving within a frame of the last render shows at the next frame
    child.wait([[(function() local l = chat() return l[#l] == 'It is fine.' end)()]])
    eq({ 'Let me look.', '', '> `read_file` `src/main.cpp` — done', '', '> `edit_file` `a.txt` — rejected', '',
      '> `delete_everything` — failed: unknown tool: delete_everything', '', 'It is fine.' },
      { unpack(child.lua('return chat()'), 7) })
    eq({ 'QuillError' }, child.lua('return groups(12)'))
    local result = {
      { role = 'assistant', content = 'Let me look.', toolCalls = { { name = 'read_file', arguments = { path = 'src/main.cpp' } } } },
      { role = 'tool', content = 'x', toolName = 'read_file' },
      { role = 'assistant', content = 'It is fine.' },
    }
    child.lua([[answer(2, nil, done('chat-1', '', { messages = ... }))]], { result })
    local lines = child.lua('return chat()')
    eq({ 'It is fine.', '', '## You', '', '' }, { unpack(lines, 15) })
    local history = child.lua([[return require('quill.chat').history()]])
    eq(4, #history, 'user + the three messages of the turn')
    eq('tool', history[3].role)
  end)

  it('a turn ending on blocks ends cleanly; tool_limit shows its note', function()
    local child = child_with_tools()
    child.cmd('QuillChat loop')
    child.lua([[answer(1, nil, { model = 'llama3.2', capabilities = { 'tools' } })]])
    child.lua([[
      note('chat-1', { name = 'list_files', arguments = {} }, 'requested')
      note('chat-1', { name = 'list_files', arguments = {} }, 'done')
      answer(2, nil, done('chat-1', '', { doneReason = 'tool_limit', note = 'stopped after 2 rounds of tool calls (the limit)',
        messages = { { role = 'assistant', content = '', toolCalls = { { name = 'list_files', arguments = {} } } },
          { role = 'tool', content = 'a', toolName = 'list_files' } } }))
    ]])
    eq({ '## Assistant', '', '> `list_files` (all files) — done', '', '[stopped: stopped after 2 rounds of tool calls (the limit)]',
      '', '## You', '', '' }, { unpack(child.lua('return chat()'), 5) })
  end)

  it('the block of a read shows how many lines the editor returned', function()
    local child = child_with_tools()
    local root = vim.fn.tempname()
    vim.fn.mkdir(root, 'p')
    h.cleanup(function()
      vim.fn.delete(root, 'rf')
    end)
    local f = assert(io.open(root .. '/r.txt', 'w'))
    f:write('1\n2\n3\n')
    f:close()
    child.lua([[require('quill.config').get().workspace_root = ...]], { root })
    child.cmd('QuillChat read')
    child.lua([[answer(1, nil, { model = 'llama3.2', capabilities = { 'tools' } })]])
    child.lua([[
      _G.read_answered = false
      fake.on_reply = function() _G.read_answered = true end
      note('chat-1', { name = 'read_file', arguments = { path = 'r.txt' } }, 'requested')
      fake.send({ jsonrpc = '2.0', id = 1, method = 'editor/readFile', params = { chatId = 'chat-1', path = 'r.txt' } })
    ]])
    child.wait('read_answered') -- a read answers asynchronously (it asks git first)
    child.lua([[note('chat-1', { name = 'read_file', arguments = { path = 'r.txt' } }, 'done')]])
    eq('> `read_file` `r.txt` — done (3 lines)', child.lua('return chat()')[7])
  end)

  -- A model's names and globs are markdown's markup too: `_`, `**`, backticks, newlines.
  it('names and arguments are code spans, whatever backticks or newlines they hold', function()
    local child = child_with_tools()
    child.cmd('QuillChat look')
    child.lua([[answer(1, nil, { model = 'llama3.2', capabilities = { 'tools' } })]])
    child.lua([[
      note('chat-1', { name = 'list_files', arguments = { pattern = '**/*.lua' } }, 'requested')
      note('chat-1', { name = 'list_files', arguments = { pattern = '**/*.lua' } }, 'done')
      note('chat-1', { name = 'read_file', arguments = { path = 'a``b`\nc.txt' } }, 'requested')
      note('chat-1', { name = 'read_file', arguments = { path = 'a``b`\nc.txt' } }, 'done')
      note('chat-1', { name = 'edit_file', arguments = { path = '`x`' } }, 'requested')
    ]])
    local lines = child.lua('return chat()')
    eq({ '> `list_files` `**/*.lua` — done', '', '> `read_file` ```a``b` c.txt``` — done', '',
      '> `edit_file` `` `x` `` …' }, { unpack(lines, 7, 11) })
  end)

  it('a chat wiped mid-stream comes back with every tool block and the answer that finished', function()
    local child = child_with_tools()
    child.cmd('QuillChat look')
    child.lua([[answer(1, nil, { model = 'llama3.2', capabilities = { 'tools' } })]])
    local call = { id = 'c1', name = 'read_file', arguments = { path = 'a.txt' } }
    child.lua([[note('chat-1', ..., 'requested')]], { call })
    child.cmd('bwipeout! quill://chat')
    child.lua([[note('chat-1', ..., 'done')]], { call })
    child.cmd('QuillChat') -- a new buffer, while the answer still streams
    child.lua([[tok('chat-1', 'It says hi.')]])
    child.lua('answer(2, nil, done("chat-1", "It says hi.", { messages = ... }))', { {
      { role = 'assistant', content = '', toolCalls = { call } },
      { role = 'tool', content = 'hi', toolName = 'read_file', toolCallId = 'c1' },
      { role = 'assistant', content = 'It says hi.' },
    } })
    eq({ '## You', '', 'look', '', '## Assistant', '', '> `read_file` `a.txt` — done', '', 'It says hi.', '',
      '## You', '', '' }, child.lua('return chat()'))
    eq({ 'QuillTool' }, child.lua('return groups(6)'))
    -- and a later rebuild still has them
    child.cmd('bwipeout! quill://chat')
    child.cmd('QuillChat')
    eq('> `read_file` `a.txt` — done', child.lua('return chat()')[7])
  end)

  it('the path of a block is read back from its code span, whatever it holds', function()
    local child = child_with_tools()
    local function path(line)
      return child.lua([[return require('quill.chat').block_path(...) or vim.NIL]], { line })
    end
    eq('src/a.c', path('> `edit_file` `src/a.c` — done'))
    eq('a``b` c.txt', path('> `read_file` ```a``b` c.txt``` — done'))
    eq('`x`', path('> `edit_file` `` `x` `` …'))
    eq('a.c', path('> `edit_file` ` a.c ` — done'), 'one space off each end, as CommonMark reads it')
    eq(vim.NIL, path('> `list_files` (all files) — done'))
    eq(vim.NIL, path('plain text'))
  end)

  it('a name or argument ending in a backtick is padded inside its span, and read back', function()
    local child = child_with_tools()
    child.cmd('QuillChat look')
    child.lua([[answer(1, nil, { model = 'llama3.2', capabilities = { 'tools' } })]])
    child.lua([[note('chat-1', { name = 'edit_file', arguments = { path = 'a`' } }, 'requested')]])
    eq('> `edit_file` `` a` `` …', child.lua('return chat()')[7])
    eq('a`', child.lua([[return require('quill.chat').block_path(chat()[7])]]))
    child.lua([[note('chat-1', { name = 'edit_file', arguments = { path = 'a`' } }, 'done')]])
    child.lua([[note('chat-1', { name = 'edit_file', arguments = { path = ' a.c ' } }, 'requested')]])
    eq('> `edit_file` `  a.c  ` …', child.lua('return chat()')[9])
    eq(' a.c ', child.lua([[return require('quill.chat').block_path(chat()[9])]]), 'round-trips')
  end)

  -- A model's path in a block, or a line the user typed to look like one: gf never leaves the
  -- workspace.
  it('gf on a block whose path escapes the workspace opens nothing and says why', function()
    local child = child_with_tools()
    child.cmd('QuillChat')
    child.lua([[vim.api.nvim_buf_set_lines(0, 0, 1, false, { '> `read_file` `../../../etc/passwd` — done' })
      vim.api.nvim_win_set_cursor(0, { 1, 0 })]])
    local bufs = child.lua('return #vim.api.nvim_list_bufs()')
    eq(false, child.lua([[return require('quill.chat').open_block_file()]]))
    h.matches('cannot open %.%./%.%./%.%./etc/passwd: .*outside', child.lua('return notes[#notes].msg'))
    eq(bufs, child.lua('return #vim.api.nvim_list_bufs()'))
  end)

  it('inline insertions never offer tools', function()
    local child = child_with_tools()
    child.cmd('QuillInsert write')
    eq('chat/send', child.lua('return reqs[1].method'))
    eq(true, child.lua('return params(1).tools == nil'), 'no tools')
  end)
end)
