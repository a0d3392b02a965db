-- quill.config: defaults, merge, validation messages.
local h = require('harness')
local eq, ok, raises = h.eq, h.ok, h.raises

local config

local function fresh()
  package.loaded['quill.config'] = nil
  package.loaded['quill'] = nil
  config = require('quill.config')
end

describe('config', function()
  before_each(fresh)

  it('returns the documented defaults when setup() was never called', function()
    local cfg = config.get()
    eq(nil, cfg.backend_cmd)
    eq(nil, cfg.host)
    eq(nil, cfg.system_prompt)
    eq(nil, cfg.workspace_root)
    eq({}, cfg.headers)
    eq({}, cfg.endpoints)
    eq(nil, cfg.endpoint)
    eq(nil, cfg.tools.offer)
    eq({}, cfg.options)
    eq('llama3.2', cfg.model)
    eq(vim.fn.stdpath('cache') .. '/quill-backend.log', cfg.log_file)
    eq('info', cfg.log_level)
    eq(10000, cfg.request_timeout_ms)
    eq({ connect_ms = 5000, first_byte_ms = 300000, idle_ms = 60000 }, cfg.timeouts)
    eq({ position = 'right', size = 0.4, syntax = 'light', max_answer_bytes = 4194304, max_context_bytes = 65536,
      show_thinking = true }, cfg.chat)
    eq({ send = '<CR>', send_insert = '<C-s>', cancel = '<C-c>', close = 'q', help = 'g?',
      next_turn = ']]', prev_turn = '[[', yank_code = 'gy', open_file = 'gf' }, cfg.keymaps)
  end)

  it('deep-merges options over the defaults', function()
    config.setup({
      model = 'qwen2.5',
      host = 'http://gpu:11434',
      headers = { Authorization = 'Bearer t' },
      timeouts = { idle_ms = 1000 },
      keymaps = { cancel = false },
      options = { temperature = 0.2 },
    })
    local cfg = config.get()
    eq('qwen2.5', cfg.model)
    eq('http://gpu:11434', cfg.host)
    eq({ Authorization = 'Bearer t' }, cfg.headers)
    eq({ connect_ms = 5000, first_byte_ms = 300000, idle_ms = 1000 }, cfg.timeouts)
    eq({ send = '<CR>', send_insert = '<C-s>', cancel = false, close = 'q', help = 'g?',
      next_turn = ']]', prev_turn = '[[', yank_code = 'gy', open_file = 'gf' }, cfg.keymaps)
    eq({ temperature = 0.2 }, cfg.options)
    eq('info', cfg.log_level)
  end)

  it('merges each setup() over the defaults, not over the previous setup', function()
    config.setup({ model = 'a', log_level = 'debug' })
    config.setup({ model = 'b' })
    eq('b', config.get().model)
    eq('info', config.get().log_level)
    eq('llama3.2', config.defaults().model, 'defaults are not mutated')
  end)

  it('quill.setup() only delegates to config.setup()', function()
    require('quill').setup({ model = 'via-init' })
    eq('via-init', config.get().model)
    local st = require('quill').status()
    eq(false, st.busy)
    eq(false, st.backend.running)
    eq(nil, st.backend.pid)
  end)

  it('names the option and the allowed values for a bad enum', function()
    eq(
      "quill: option 'log_level' must be one of error, warn, info, debug, trace (got 'loud')",
      raises(config.setup, { log_level = 'loud' })
    )
    eq(
      "quill: option 'chat.position' must be one of left, right, top, bottom (got 'middle')",
      raises(config.setup, { chat = { position = 'middle' } })
    )
  end)

  it('chat.size: a fraction of the screen or whole columns/lines', function()
    config.setup({ chat = { size = 0.3 } })
    eq(0.3, config.get().chat.size)
    config.setup({ chat = { size = 60 } })
    eq(60, config.get().chat.size)
    for _, bad in ipairs({ 0, -0.5, 1.5, 0 / 0, math.huge, 'wide' }) do
      h.matches("^quill: option 'chat.size' must be a fraction below 1 or a positive integer",
        raises(config.setup, { chat = { size = bad } }), tostring(bad))
    end
    config.setup({})
  end)

  it('names the option for a wrong type, also nested', function()
    eq("quill: option 'model' must be a non-empty string (got 42)", raises(config.setup, { model = 42 }))
    eq(
      "quill: option 'timeouts.idle_ms' must be a positive integer (got -1)",
      raises(config.setup, { timeouts = { idle_ms = -1 } })
    )
    eq("quill: option 'timeouts' must be a table (got 5)", raises(config.setup, { timeouts = 5 }))
    eq(
      "quill: option 'request_timeout_ms' must be a positive integer (got 'soon')",
      raises(config.setup, { request_timeout_ms = 'soon' })
    )
    h.matches("^quill: option 'headers' must be a table of strings", raises(config.setup, { headers = { X = 1 } }))
    h.matches("^quill: option 'keymaps.send' ", raises(config.setup, { keymaps = { send = 1 } }))
    h.matches("^quill: option 'backend_cmd' ", raises(config.setup, { backend_cmd = true }))
  end)

  it('rejects unknown options, top-level and nested', function()
    eq("quill: unknown option 'modle'", raises(config.setup, { modle = 'x' }))
    eq("quill: unknown option 'timeouts.idle'", raises(config.setup, { timeouts = { idle = 1 } }))
    eq('quill: setup() expects a table (got \'fast\')', raises(config.setup, 'fast'))
  end)

  it('keeps the previous configuration when setup() fails', function()
    config.setup({ model = 'kept' })
    ok(not pcall(config.setup, { model = 'lost', log_level = 'loud' }))
    eq('kept', config.get().model)
  end)

  it('tools: edit size, deny list and policy have defaults and are validated', function()
    local tools = config.get().tools
    eq(1048576, tools.max_edit_bytes)
    eq('ask', tools.deny_policy)
    ok(vim.tbl_contains(tools.deny, '.env*') and vim.tbl_contains(tools.deny, 'id_ed25519*'), vim.inspect(tools.deny))
    -- a list replaces the default one, an empty list too (a deep merge would keep the defaults)
    config.setup({ tools = { deny = { '*.secret' } } })
    eq({ '*.secret' }, config.get().tools.deny)
    config.setup({ tools = { deny = {} } })
    eq({}, config.get().tools.deny)
    ok(#config.defaults().tools.deny > 10, 'defaults are not mutated')
    eq(
      "quill: option 'tools.deny_policy' must be one of ask, refuse (got 'maybe')",
      raises(config.setup, { tools = { deny_policy = 'maybe' } })
    )
    h.matches("^quill: option 'tools.deny' must be a list of strings", raises(config.setup, { tools = { deny = '.env' } }))
    h.matches("entry 2 is 'a/b'", raises(config.setup, { tools = { deny = { 'x', 'a/b' } } }))
    h.matches("entry 1 is ''", raises(config.setup, { tools = { deny = { '' } } }))
    h.matches("^quill: option 'tools.max_edit_bytes' ", raises(config.setup, { tools = { max_edit_bytes = 0 } }))
  end)

  it('accepts setup() without arguments', function()
    config.setup()
    eq('llama3.2', config.get().model)
  end)
end)
