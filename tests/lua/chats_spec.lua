-- Conversations end to end (the real plugin and backend, the fake server): several at once, each
-- in its own buffer; saved after every turn and shown again as they were after a restart;
-- :QuillChats; the saved files read back as the foreign input they are.
local h = require('harness')
local e2e = require('e2e')
local eq, ok = h.eq, h.ok

local ANSWER_LINE = 7 -- first answer line after "## You", "", prompt, "", "## Assistant", ""

local function lines_of(child, buf)
  return child.lua('return vim.api.nvim_buf_get_lines(..., 0, -1, false)', { buf })
end

local function current_id(child)
  return child.lua([[return require('quill.chat').state().id]])
end

-- Waits until nothing streams and every save reached the disk.
local function settle(child)
  child.wait([[(function()
    if require('quill').status().busy then return false end
    for _, e in ipairs(require('quill.chat').list()) do
      if require('quill.chat_store').busy(e.id) then return false end
    end
    return true
  end)()]], 15000)
end

-- The stats shown beside each `## Assistant` header of `buf`, in order.
local function header_stats(child, buf)
  return child.lua([[
    local buf = ...
    local out = {}
    local ns = require('quill.stream').ns
    for row, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
      if line == '## Assistant' then
        local text = ''
        for _, m in ipairs(vim.api.nvim_buf_get_extmarks(buf, ns, { row - 1, 0 }, { row - 1, -1 }, { details = true })) do
          if m[4].virt_text then text = m[4].virt_text[1][1] end
        end
        table.insert(out, text)
      end
    end
    return out
  ]], { buf })
end

local function chats_dir(data)
  return data .. '/nvim/quill/chats'
end

describe('conversations', function()
  it('stream at once, each into its own buffer; cancelling one leaves the other exact', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { model = 'text?tokens=60&rate=100' })
    child.cmd('QuillChat one')
    local first = child.lua([[return require('quill.chat').state().buf]])
    child.cmd('QuillNew two')
    local second = child.lua([[return require('quill.chat').state().buf]])
    ok(first ~= second)
    child.wait([[vim.tbl_count(require('quill').status().chats) == 2]], 5000)
    child.wait([[((require('quill').status().chats['chat-1'] or {}).tokens or 0) >= 1]], 5000)
    -- :QuillCancel in the first conversation's buffer stops that one only
    child.lua('vim.api.nvim_win_set_buf(0, ...)', { first })
    child.cmd('QuillCancel')
    settle(child)
    local one = lines_of(child, first)
    local _, mark = e2e.answer_text(one, ANSWER_LINE)
    eq('[cancelled]', mark)
    local text, mark2 = e2e.answer_text(lines_of(child, second), ANSWER_LINE)
    eq(table.concat(e2e.tokens(60)), text)
    eq(nil, mark2)
    local chats = child.lua([[return require('quill').chats()]])
    eq(2, #chats)
    eq({ 'two', 'one' }, { chats[1].title, chats[2].title }, 'newest first')
    eq(false, chats[1].busy)
  end)

  it('come back after a restart as they were, and the next question sends the whole history', function()
    local url = e2e.start_fake()
    local data = h.temp_dir()
    local opts = { model = 'text?tokens=5' }
    local child = e2e.child(url, opts, { env = { XDG_DATA_HOME = data } })
    child.lua('vim.o.columns = 200') -- the whole stats line beside the header
    child.cmd('QuillChat first question')
    settle(child)
    child.lua([[require('quill.config').get().model = 'drop?after=3']])
    child.cmd('QuillChat second')
    settle(child)
    local id = current_id(child)
    local buf = child.lua([[return require('quill.chat').state().buf]])
    local before = lines_of(child, buf)
    local stats_before = header_stats(child, buf)
    h.matches('^%[interrupted: ', before[#before - 4])
    eq(2, #stats_before)
    h.matches('5 tokens', stats_before[1])
    local file = chats_dir(data) .. '/' .. id .. '.json'
    eq(1, vim.fn.filereadable(file), file)
    child.stop()

    local again = e2e.child(url, { model = 'text?tokens=2' }, { env = { XDG_DATA_HOME = data } })
    again.lua('vim.o.columns = 200')
    local chats = again.lua([[return require('quill').chats()]])
    eq(1, #chats)
    eq(id, chats[1].id)
    eq('first question', chats[1].title)
    eq('drop?after=3', chats[1].model, 'the model that answered last, not the configured one')
    local rebuf = again.lua('return require("quill").open_chat(...)', { id })
    eq(before, lines_of(again, rebuf), 'the buffer as it was')
    eq(stats_before, header_stats(again, rebuf), 'with the stats')
    eq(('quill://chat/%s'):format(id), again.lua('return vim.fn.bufname(...)', { rebuf }))
    again.cmd('QuillChat third')
    settle(again)
    local sent = e2e.fake_stats(url).last_request.messages
    eq({ 'user', 'assistant', 'user', 'assistant', 'user' }, vim.tbl_map(function(m)
      return m.role
    end, sent))
    eq('first question', sent[1].content)
    eq('third', sent[5].content)
  end)

  it('keep the model and endpoint chosen in them; the others follow the configuration', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { model = 'text?tokens=1' })
    child.cmd('QuillChat a')
    settle(child)
    local a = current_id(child)
    child.cmd('QuillModel text?tokens=2')
    child.cmd('QuillNew b')
    settle(child)
    eq('text?tokens=2', e2e.fake_stats(url).last_request.model, 'the new default')
    child.cmd('QuillModel text?tokens=3')
    child.cmd('QuillChat b2')
    settle(child)
    eq('text?tokens=3', e2e.fake_stats(url).last_request.model)
    -- a later setup() changes the default, not what a conversation chose
    child.lua([[require('quill').setup(...)]], { { host = url, log_file = vim.fn.tempname(), model = 'text?tokens=4' } })
    child.lua('require("quill").open_chat(...)', { a })
    child.cmd('QuillChat a2')
    settle(child)
    eq('text?tokens=2', e2e.fake_stats(url).last_request.model, "a's own")
    child.cmd('QuillNew c')
    settle(child)
    eq('text?tokens=4', e2e.fake_stats(url).last_request.model, 'a new one: the configured model')
  end)

  it(':QuillChats opens, renames and deletes', function()
    local url = e2e.start_fake()
    local data = h.temp_dir()
    local child = e2e.child(url, { model = 'text?tokens=2' }, { env = { XDG_DATA_HOME = data } })
    child.cmd('QuillChat alpha')
    settle(child)
    local alpha = current_id(child)
    child.cmd('QuillNew beta')
    settle(child)
    local beta = current_id(child)
    child.lua([[
      _G.picks = {}
      _G.answers = {}
      vim.ui.select = function(items, opts, cb)
        table.insert(_G.picks, vim.tbl_map(opts.format_item or tostring, items))
        local want = table.remove(_G.answers, 1)
        for _, item in ipairs(items) do
          if (type(item) == 'table' and item.title == want) or item == want then return cb(item) end
        end
        cb(nil)
      end
      vim.ui.input = function(opts, cb) cb(table.remove(_G.answers, 1)) end
    ]])
    -- open alpha: the chat window shows it
    child.lua([[_G.answers = { 'alpha', 'open' }]])
    child.cmd('QuillChats')
    child.wait([[require('quill.chat').state().id == ']] .. alpha .. [[']])
    local listed = child.lua('return picks[1]')
    eq(2, #listed)
    h.matches('^beta · text%?tokens=2 · just now', listed[1])
    h.matches('^alpha · ', listed[2])
    eq(alpha, child.lua([[return require('quill.chat').state().id]]))
    -- rename beta (a line break in the name stays one line)
    child.lua([[_G.answers = { 'beta', 'rename', 'the\nsecond' }]])
    child.cmd('QuillChats')
    child.wait([[(function()
      for _, c in ipairs(require('quill').chats()) do if c.title == 'the second' then return true end end
    end)()]])
    settle(child)
    h.matches('"title":"the second"', table.concat(vim.fn.readfile(chats_dir(data) .. '/' .. beta .. '.json'), '\n'))
    -- delete it: asked first; its file and buffer go
    child.lua([[_G.answers = { 'the second', 'delete', 'yes' }]])
    child.cmd('QuillChats')
    child.wait([[#require('quill').chats() == 1]])
    eq(0, vim.fn.filereadable(chats_dir(data) .. '/' .. beta .. '.json'))
    eq(alpha, child.lua([[return require('quill').chats()[1].id]]))
    eq(0, child.lua('return vim.fn.bufexists(...)', { 'quill://chat/' .. beta }))
  end)

  it('a saved file that is not a conversation is reported and skipped, never loaded', function()
    local data = h.temp_dir()
    local dir = chats_dir(data)
    local good = {
      version = 1, id = 'good', title = 'fi\nne\27', created = 1, updated = 2,
      messages = { { role = 'user', content = 'q' }, { role = 'assistant', content = 'a' } },
      extras = { { index = 2, stats = 'st\27[31mats', mark = { text = '[x]\n[y]', group = 'Normal; rm -rf' },
        blocks = { { text = 'b' } } } },
    }
    h.write_file(dir .. '/good.json', vim.json.encode(good))
    h.write_file(dir .. '/notjson.json', '{"version": 1, "id": ')
    h.write_file(dir .. '/other.json', vim.json.encode(vim.tbl_extend('force', good, { id = 'good' })))
    h.write_file(dir .. '/role.json', vim.json.encode(vim.tbl_extend('force', good, { id = 'role',
      messages = { { role = 'root', content = 'x' } } })))
    h.write_file(dir .. '/types.json', vim.json.encode(vim.tbl_extend('force', good, { id = 'types',
      messages = { { role = 'user', content = { 'not', 'a', 'string' } } } })))
    h.write_file(dir .. '/calls.json', vim.json.encode(vim.tbl_extend('force', good, { id = 'calls',
      messages = { { role = 'assistant', content = '', toolCalls = { { name = 5 } } } } })))
    h.write_file(dir .. '/future.json', vim.json.encode(vim.tbl_extend('force', good, { id = 'future', version = 9 })))
    h.write_file(dir .. '/big.json', string.rep(' ', 16 * 1024 * 1024 + 1))
    local deep = {}
    for _ = 1, 40 do
      deep = { deep }
    end
    h.write_file(dir .. '/deep.json', vim.json.encode(vim.tbl_extend('force', good, { id = 'deep',
      messages = { { role = 'assistant', content = '', toolCalls = { { name = 'x', arguments = { a = deep } } } } } })))
    local child = h.new_child({ env = { XDG_DATA_HOME = data } })
    child.lua([[
      _G.notes = {}
      vim.notify = function(msg, level) table.insert(_G.notes, { msg = msg, level = level }) end
      vim.ui.select = function(items, opts, cb) _G.listed = vim.tbl_map(opts.format_item, items) end
    ]])
    eq({ 'good' }, child.lua([[return vim.tbl_map(function(c) return c.id end, require('quill').chats())]]))
    eq('fi ne ', child.lua([[return require('quill').chats()[1].title]]), 'a title is one line of text')
    child.cmd('QuillChats')
    local msg = child.lua('return notes[1].msg')
    h.matches('^quill: 8 saved chats could not be read and are skipped', msg)
    for _, why in ipairs({ 'notjson.json: not JSON', 'other.json: its id is good', 'role.json: message 1 is not a Message',
      'types.json: message 1 is not a Message', 'calls.json: message 1 is not a Message', 'future.json: version 9, not 1',
      'big.json: 16777217 bytes, more than 16777216', 'deep.json: message 1 is not a Message' }) do
      ok(msg:find(why, 1, true), why .. ' in ' .. msg)
    end
    eq(1, #child.lua('return listed'))
    -- the good one opens; what its file says is shown as plain lines in quill's own groups
    local buf = child.lua([[return require('quill').open_chat('good')]])
    local lines = lines_of(child, buf)
    eq({ '## You', '', 'q', '', '## Assistant', '', 'a', '', '[x] [y]', '', '## You', '', '' }, lines)
    eq('st ats', (header_stats(child, buf)[1]:gsub('%[31m', '')), 'no escape byte')
    local groups = child.lua([[
      local buf = ...
      local out = {}
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(buf, require('quill.stream').ns, 0, -1, { details = true })) do
        if m[4].hl_group then out['row' .. (m[2] + 1)] = m[4].hl_group end
      end
      return out
    ]], { buf })
    eq('QuillTool', groups.row9, 'an unknown group is not used')
    -- nothing of it was loaded into the list of this Neovim's chats but the good one
    eq(1, #child.lua([[return require('quill').chats()]]))
    -- an id is a file name in that directory, never a path
    eq(true, child.lua([[return require('quill').open_chat('../../../etc/passwd') == nil]]))
    h.matches('no chat %.%./%.%./%.%./etc/passwd: not a chat id', child.lua('return notes[#notes].msg'))
  end)

  it('a conversation that cannot be encoded ends its turn with an error, not a spinner forever', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { model = 'text?tokens=2' })
    child.lua([[
      local deep = {}
      for _ = 1, 1100 do deep = { deep } end
      local c = require('quill.chat').state()
      table.insert(c.history, { role = 'user', content = 'q' })
      table.insert(c.history, { role = 'assistant', content = '', toolCalls = { { name = 'x', arguments = { a = deep } } } })
    ]])
    child.cmd('QuillChat next')
    child.wait([[not require('quill').status().busy and require('quill.chat').state().turn == nil]], 5000)
    local lines = child.lua('return chat_lines()')
    local err
    for _, l in ipairs(lines) do
      err = err or (l:find('^%[error: this conversation cannot be sent: Cannot serialise') and l)
    end
    ok(err, table.concat(lines, '\n'))
    eq('next', lines[#lines], 'the question is given back')
  end)

  it('two Neovims on one conversation: the second to save goes on as a copy, nothing lost', function()
    local url = e2e.start_fake()
    local data = h.temp_dir()
    local a = e2e.child(url, { model = 'text?tokens=2' }, { env = { XDG_DATA_HOME = data } })
    a.cmd('QuillChat first')
    settle(a)
    local id = current_id(a)
    local b = e2e.child(url, { model = 'text?tokens=2' }, { env = { XDG_DATA_HOME = data } })
    b.lua('require("quill").open_chat(...)', { id })
    a.cmd('QuillChat from a')
    settle(a)
    b.cmd('QuillChat from b')
    settle(b)
    local copy = current_id(b)
    ok(copy ~= id, 'b goes on under a new id')
    h.matches('changed in another Neovim; this one goes on as a copy', b.lua('return notes[#notes].msg'))
    eq('quill://chat/' .. copy, b.lua([[return vim.api.nvim_buf_get_name(require('quill.chat').state().buf)]]))
    local function prompts(file_id)
      local saved = vim.json.decode(table.concat(vim.fn.readfile(chats_dir(data) .. '/' .. file_id .. '.json'), '\n'))
      return vim.tbl_map(function(m)
        return m.content
      end, vim.tbl_filter(function(m)
        return m.role == 'user'
      end, saved.messages))
    end
    eq({ 'first', 'from a' }, prompts(id))
    eq({ 'first', 'from b' }, prompts(copy))
    -- a's next turn still goes to its own file (it wrote the last version of it)
    a.cmd('QuillChat again')
    settle(a)
    eq({ 'first', 'from a', 'again' }, prompts(id))
    eq(id, current_id(a))
  end)

  it('the save at exit is the last word, whatever write was still running', function()
    local data = h.temp_dir()
    local child = h.new_child({ env = { XDG_DATA_HOME = data } })
    local id = child.lua([[
      local c = require('quill.chat').state()
      table.insert(c.history, { role = 'user', content = 'one' })
      require('quill.chat_store').save(c)
      require('quill.chat_store').save(c) -- (one in flight, one waiting)
      table.insert(c.history, { role = 'assistant', content = 'two' })
      return c.id
    ]])
    child.stop()
    local saved = vim.json.decode(table.concat(vim.fn.readfile(chats_dir(data) .. '/' .. id .. '.json'), '\n'))
    eq({ 'one', 'two' }, vim.tbl_map(function(m)
      return m.content
    end, saved.messages))
    eq({ id .. '.json' }, vim.fn.readdir(chats_dir(data)), 'no temporary file left')
  end)

  it('a crash loses at most the answer still streaming: the prompt was saved when sent', function()
    local url = e2e.start_fake()
    local data = h.temp_dir()
    local child = e2e.child(url, { model = 'hang?after=2' }, { env = { XDG_DATA_HOME = data } })
    child.cmd('QuillChat will it last')
    child.wait([[((require('quill').status().chats['chat-1'] or {}).tokens or 0) >= 1]], 5000)
    local id = current_id(child)
    local file = chats_dir(data) .. '/' .. id .. '.json'
    h.wait_for(function()
      return vim.fn.filereadable(file) == 1
    end, 3000, 'the saved prompt')
    e2e.kill(child.pid) -- no VimLeavePre
    child.stopped = true
    local saved = vim.json.decode(table.concat(vim.fn.readfile(file), '\n'))
    eq({ { role = 'user', content = 'will it last' } }, saved.messages)
    -- no temporary file left where a reader could take it for a chat
    eq({ id .. '.json' }, vim.fn.readdir(chats_dir(data)))
  end)
end)
