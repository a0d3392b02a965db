-- :QuillPull end to end (the real backend, the fake's /api/pull), and the offer to pull when a
-- chat names a model Ollama does not have.
local h = require('harness')
local e2e = require('e2e')
local eq, ok = h.eq, h.ok

local function capture_echo(child)
  child.lua([[
    _G.echoed = {}
    local echo = vim.api.nvim_echo
    vim.api.nvim_echo = function(chunks, history, opts)
      table.insert(_G.echoed, chunks[1][1])
      return echo(chunks, history, opts)
    end
  ]])
end

describe(':QuillPull', function()
  it('words a progress line with the layer, the share, the speed and the time left', function()
    local pull = require('quill.pull')
    local uv = vim.uv or vim.loop
    local state = { layers = { ['sha256:ab'] = { at_ns = uv.hrtime() - 1e9, completed = 0 } } }
    local text = pull.progress_text({ model = 'm', status = 'pulling ab', digest = 'sha256:ab', total = 8e6,
      completed = 2e6 }, state)
    h.matches('^quill: pulling m: pulling ab 25%% of 8%.0 MB, 2%.0 MB/s, ETA 0:03$', text)
    eq('quill: pulling m: verifying sha256 digest', pull.progress_text({ model = 'm', status = 'verifying sha256 digest' }, state))
    -- a hostile server's numbers stay numbers: more done than the total is 100 %
    h.matches('100%% of 0%.0 MB', pull.progress_text({ model = 'm', status = 's', total = 1, completed = 1e12 }, nil))
  end)

  it('shows the progress of each layer, then says the model was pulled', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { model = 'missing-model' })
    capture_echo(child)
    child.cmd('QuillPull')
    child.wait([[#vim.tbl_filter(function(n) return n.msg == 'quill: pulled missing-model' end, notes) == 1]], 10000)
    local echoed = child.lua('return echoed')
    ok(#echoed >= 3, vim.inspect(echoed))
    eq('quill: pulling missing-model…', echoed[1])
    local layer = nil
    for _, l in ipairs(echoed) do
      layer = layer or l:match('^quill: pulling missing%-model: pulling %x+ %d+%% of 8%.0 MB')
    end
    ok(layer, 'a layer line with its size:\n' .. table.concat(echoed, '\n'))
    eq('missing-model', e2e.fake_stats(url).last_request.model)
  end)

  it('reports Ollama\'s error, cancels with :QuillCancel, refuses an OpenAI-compatible endpoint', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { endpoints = { v1 = { kind = 'openai', url = url .. '/v1' } } })
    child.cmd('QuillPull nosuch-model')
    child.wait([[#notes > 0 and notes[#notes].level == vim.log.levels.ERROR]], 10000)
    eq('quill: pulling nosuch-model failed: pull model manifest: file does not exist', child.lua('return notes[#notes].msg'))

    child.cmd('QuillPull slowpull-model')
    child.wait([[require('quill.pull').running()]], 5000)
    child.cmd('QuillCancel')
    child.wait([[notes[#notes].msg == 'quill: pull of slowpull-model cancelled']], 5000)
    eq(false, child.lua([[return require('quill.pull').running()]]))

    child.cmd('QuillEndpoint v1')
    child.cmd('QuillPull x')
    h.matches('only Ollama pulls models', child.lua('return notes[#notes].msg'))
  end)

  it('offers to pull a model a chat needs, then sends the prompt again', function()
    local url = e2e.start_fake()
    local child = e2e.child(url, { model = 'missing-thing' })
    child.lua([[
      _G.asked = nil
      vim.ui.input = function(opts, cb) _G.asked = opts.prompt; cb('y') end
    ]])
    child.cmd('QuillChat hello there')
    child.wait([[asked ~= nil]], 10000)
    h.matches('missing%-thing is not pulled%. Pull it now%?', child.lua('return asked'))
    child.wait([[#require('quill.chat').history() == 2]], 15000)
    local history = child.lua([[return require('quill.chat').history()]])
    eq('hello there', history[1].content)
    eq('assistant', history[2].role)
    ok(history[2].content ~= '', 'the resent prompt was answered')
  end)
end)
