-- Endpoints end to end: the real plugin and backend, the fake serving both Ollama's /api/chat and
-- the OpenAI-compatible /v1/chat/completions. Configuration checks, :QuillEndpoint, live
-- settings from a second setup(), and tools offered to an OpenAI-compatible server.
local h = require('harness')
local e2e = require('e2e')
local eq, ok = h.eq, h.ok

local function wait_idle(child, ms)
  child.wait('idle() and require("quill.chat").state().turn == nil', ms or 10000)
end

local function last_request(url)
  return e2e.fake_stats(url).last_request
end

describe('endpoints', function()
  it('refuses endpoint settings that cannot work, naming the entry', function()
    local config = require('quill.config')
    local function refused(opts, pattern)
      local okay, err = pcall(config.setup, opts)
      ok(not okay, 'accepted: ' .. vim.inspect(opts))
      h.matches(pattern, err)
    end
    refused({ endpoints = { x = { url = 'http://h/v1' } } }, "entry 'x': kind must be 'ollama' or 'openai'")
    refused({ endpoints = { x = { kind = 'openai' } } }, "entry 'x': url must start with http")
    refused({ endpoints = { x = { kind = 'openai', url = 'ftp://h' } } }, 'url must start with http')
    refused({ endpoints = { x = { kind = 'openai', url = 'http://h', api_key_env = '$KEY' } } },
      'api_key_env must be an environment variable name')
    refused({ endpoints = { x = { kind = 'openai', url = 'http://h', tools = 'yes' } } }, "tools must be 'auto'")
    refused({ endpoints = { x = { kind = 'openai', url = 'http://h', token = 'x' } } }, "unknown key 'token'")
    refused({ endpoints = { ['a b'] = { kind = 'ollama' } } }, 'names must be')
    refused({ endpoint = 'nope' }, "option 'endpoint' names no endpoint: 'nope' %(configured: ollama%)")
    refused({ tools = { offer = { 'read_file', 'rm' } } }, "option 'tools.offer' must list only")
    refused({ tools = { offer = {} } }, "option 'tools.offer' must be a non%-empty list")
    eq({ 'list_files' }, config.setup({ tools = { offer = { 'list_files' } } }).tools.offer)
    local cfg = config.setup({ endpoints = { x = { kind = 'openai', url = 'http://h/v1', model = 'm' } }, endpoint = 'x' })
    eq('m', cfg.model, "the endpoint's own model")
    eq({ 'ollama', 'x' }, config.endpoint_names())
    eq({ name = 'x', kind = 'openai', url = 'http://h/v1', tools = 'auto', model = 'm' }, config.endpoint())
    refused({ endpoints = { x = { kind = 'openai', url = 'http://h', options = 5 } } }, 'options must be a table')
    -- the global options are Ollama's; an OpenAI-compatible endpoint sends only its own
    local stream = require('quill.stream')
    config.setup({ options = { num_ctx = 8192 }, endpoints = { x = { kind = 'openai', url = 'http://h/v1' },
      y = { kind = 'openai', url = 'http://h/v1', options = { temperature = 0.1 } } }, endpoint = 'x' })
    eq(nil, stream.params('c', {}, false).options)
    config.get().endpoint = 'y'
    eq({ temperature = 0.1 }, stream.params('c', {}, false).options)
    config.get().endpoint = 'ollama'
    eq({ num_ctx = 8192 }, stream.params('c', {}, false).options)
    config.setup({})
  end)

  it('chats with an OpenAI-compatible endpoint, offering tools without asking models/show', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, {
      endpoints = { local_ = { kind = 'openai', url = url .. '/v1' } },
      endpoint = 'local_',
      model = 'text?tokens=5',
    })
    child.lua('vim.o.columns = 200') -- room for the whole stats line beside the header
    child.cmd('QuillChat hi')
    wait_idle(child)
    local sent = last_request(url)
    eq(true, sent.stream_options.include_usage, 'the request went to /v1/chat/completions')
    eq(4, #sent.tools, 'tools offered: there is no models/show to ask')
    local stats = e2e.fake_stats(url)
    eq(stats.last_text, (e2e.answer_text(child.lua('return chat_lines()'), 7)))
    -- the stats beside the header name the endpoint: there are two
    local virt = child.lua([[
      local ns = require('quill.stream').ns
      for _, m in ipairs(vim.api.nvim_buf_get_extmarks(require('quill.chat').state().buf, ns, { 4, 0 }, { 4, -1 }, { details = true })) do
        if m[4].virt_text then return m[4].virt_text[1][1] end
      end
    ]])
    h.matches('^local_: text%?tokens=5', virt)
  end)

  it('switches endpoints with :QuillEndpoint and applies a second setup() without a restart', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, {
      endpoints = { v1 = { kind = 'openai', url = url .. '/v1', model = 'text?tokens=3' } },
      model = 'text?tokens=4',
    })
    child.cmd('QuillChat one')
    wait_idle(child)
    eq(nil, last_request(url).stream_options, 'the default is ollama')
    child.cmd('QuillEndpoint v1')
    h.matches('endpoint v1 %(openai ', child.lua('return notes[#notes].msg'))
    eq('text?tokens=3', child.lua([[return require('quill.config').get().model]]), "the endpoint's model")
    child.cmd('QuillChat two')
    wait_idle(child)
    eq(true, last_request(url).stream_options.include_usage)
    child.cmd('QuillEndpoint nope')
    h.matches('no endpoint nope %(configured: ollama, v1%)', child.lua('return notes[#notes].msg'))

    -- a second setup() while the backend runs: the next turn goes where it says
    local pid = child.lua([[return require('quill').status().backend.pid]])
    child.lua('_G.notes = {}')
    child.lua([[require('quill').setup(...)]], { {
      host = url,
      log_file = vim.fn.tempname(),
      endpoints = { other = { kind = 'openai', url = url .. '/v1', headers = { ['X-Quill'] = 'live' } } },
      endpoint = 'other',
      model = 'text?tokens=2',
    } })
    eq({}, child.lua([[return vim.tbl_filter(function(n) return n.level == vim.log.levels.ERROR end, notes)]]))
    child.cmd('QuillChat three')
    wait_idle(child)
    local stats = e2e.fake_stats(url)
    eq('live', stats.last_headers['x-quill'], 'the new endpoint, with its headers')
    eq(pid, child.lua([[return require('quill').status().backend.pid]]), 'no restart')

    -- settings the backend refuses are said at once; the previous ones stay
    child.lua([[require('quill').setup(...)]], { { host = 'http://bad host', log_file = vim.fn.tempname() } })
    child.wait([[#vim.tbl_filter(function(n) return n.level == vim.log.levels.ERROR end, notes) > 0]], 5000)
    h.matches('provider.host .*previous settings stay', child.lua([[
      for i = #notes, 1, -1 do if notes[i].level == vim.log.levels.ERROR then return notes[i].msg end end ]]))
  end)

  it(':QuillEndpoint without a name picks one, marking the current', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { endpoints = { v1 = { kind = 'openai', url = url .. '/v1' } } })
    child.lua([[
      _G.shown = nil
      vim.ui.select = function(items, opts, cb)
        _G.shown = vim.tbl_map(opts.format_item, items)
        cb('v1')
      end
    ]])
    child.cmd('QuillEndpoint')
    eq({ 'ollama (ollama) (current)', 'v1 (openai)' }, child.lua('return shown'))
    child.wait([[require('quill.config').get().endpoint == 'v1']], 3000)
    h.matches('endpoint v1 %(openai ', child.lua('return notes[#notes].msg'))
    -- a cancelled pick changes nothing
    child.lua([[vim.ui.select = function(items, opts, cb) cb(nil) end]])
    child.cmd('QuillEndpoint')
    vim.wait(100)
    eq('v1', child.lua([[return require('quill.config').get().endpoint]]))
  end)

  it("an endpoint's tools = false offers none, and tools = true offers them without asking", function()
    local url = e2e.start_fake()
    local child = e2e.child(url, {
      endpoints = {
        off = { kind = 'openai', url = url .. '/v1', tools = false },
        on = { kind = 'ollama', url = url, tools = true },
      },
      endpoint = 'off',
      model = 'text?tokens=3',
    })
    child.cmd('QuillChat one')
    wait_idle(child)
    local sent = last_request(url)
    eq(true, sent.stream_options.include_usage, 'sent to the OpenAI-compatible endpoint')
    eq(nil, sent.tools)
    -- a notools model on an Ollama endpoint that says tools = true: offered, no models/show asked
    child.cmd('QuillEndpoint on')
    child.lua([[require('quill.config').get().model = 'notools-x']])
    child.cmd('QuillChat two')
    wait_idle(child)
    sent = last_request(url)
    eq(nil, sent.stream_options, "sent to Ollama's /api/chat")
    ok(type(sent.tools) == 'table' and #sent.tools > 0, 'tools offered')
  end)

  it(':QuillModel lists the models of the current endpoint', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { endpoints = { v1 = { kind = 'openai', url = url .. '/v1' } }, endpoint = 'v1' })
    child.lua([[
      _G.items = nil
      vim.ui.select = function(items, opts, cb) _G.items = items end
    ]])
    child.cmd('QuillModel')
    child.wait('items ~= nil', 5000)
    eq({ 'qwen3:8b', 'llama3.2:latest', 'nomic-embed-text:latest' }, child.lua('return items'))
    child.cmd('QuillModel llama9')
    child.wait('#notes > 0 and notes[#notes].msg:find("has no model") ~= nil', 5000)
    local msg = child.lua('return notes[#notes].msg')
    h.matches('endpoint v1 has no model llama9', msg)
    ok(not msg:find('ollama pull', 1, true), 'no Ollama advice for an OpenAI-compatible server')
  end)
end)

describe('context', function()
  it('says once when a turn fills the running context, above the next ## You', function()
    local url = e2e.start_fake()
    -- the fake's answers take 26 prompt tokens; its /api/ps reports num_ctx as the running size
    local child = e2e.child(url, { model = 'text?tokens=3', options = { num_ctx = 28 } })
    child.cmd('QuillChat one')
    wait_idle(child)
    child.wait([[(function()
      for _, l in ipairs(chat_lines()) do if l:find('^%[context: ') then return true end end
      return false
    end)() == true]], 5000)
    local lines = child.lua('return chat_lines()')
    local at
    for i, l in ipairs(lines) do
      if l:find('^%[context: ') then
        at = i
      end
    end
    ok(at, table.concat(lines, "\n"))
    h.matches("fills 92%% of the model.s 28 tokens", lines[at])
    eq('## You', lines[at + 2])
    child.cmd('QuillChat two')
    wait_idle(child)
    local count = 0
    for _, l in ipairs(child.lua('return chat_lines()')) do
      count = count + (l:find('^%[context: ') and 1 or 0)
    end
    eq(1, count, 'once per conversation')
  end)

  it('says nothing while the context has room', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { model = 'text?tokens=3' }) -- 26 of 4096
    child.cmd('QuillChat one')
    wait_idle(child)
    vim.wait(300)
    for _, l in ipairs(child.lua('return chat_lines()')) do
      ok(not l:find('[context:', 1, true), l)
    end
  end)
end)

describe('a server that refuses tools', function()
  it('is asked again without them, and the chat says so under the answer', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, {
      endpoints = { v1 = { kind = 'openai', url = url .. '/v1' } },
      endpoint = 'v1',
      model = 'notools-model',
    })
    child.cmd('QuillChat hi')
    wait_idle(child)
    local found
    for _, l in ipairs(child.lua('return chat_lines()')) do
      found = found or l:match('^%[note: the server refused the request with tools %(notools%-model does not support tools%); asked again without them%]$')
    end
    ok(found, table.concat(child.lua('return chat_lines()'), '\n'))
    eq(nil, e2e.fake_stats(url).last_request.tools)
    eq(2, e2e.fake_stats(url).requests)
  end)
end)
