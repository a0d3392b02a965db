-- plugin/quill.lua: user commands, lazy loading, no setup() needed.
local h = require('harness')
local eq, ok = h.eq, h.ok

local function new_child()
  local child = h.new_child()
  child.lua([[
    vim.env.QUILL_BACKEND = ...
    _G.notes = {}
    vim.notify = function(msg, level) table.insert(_G.notes, { msg = msg, level = level }) end
  ]], { h.backend_path() })
  return child
end

describe('plugin/quill.lua', function()
  it('defines the commands without loading quill modules, and only once', function()
    local child = new_child()
    eq(2, child.lua('return vim.fn.exists(":QuillInfo")'))
    eq(2, child.lua('return vim.fn.exists(":QuillRestart")'))
    eq(2, child.lua('return vim.fn.exists(":QuillLog")'))
    eq(true, child.lua('return vim.g.loaded_quill'), 'plugin/quill.lua loaded from runtimepath')
    eq(false, child.lua("return package.loaded['quill.backend'] ~= nil"), 'backend not loaded at startup')
    eq(false, child.lua("return package.loaded['quill.config'] ~= nil"), 'config not loaded at startup')
    for _, name in ipairs({ 'QuillChat', 'QuillInsert', 'QuillCancel', 'QuillNew', 'QuillModel' }) do
      eq(2, child.lua('return vim.fn.exists(...)', { ':' .. name }), name)
    end
    eq(true, child.lua([[return vim.fn.maparg('<Plug>(quill-cancel)', 'n') ~= '']]), '<Plug>(quill-cancel) in Normal mode')
    eq(true, child.lua([[return vim.fn.maparg('<Plug>(quill-cancel)', 'i') ~= '']]), '<Plug>(quill-cancel) in Insert mode')
    eq({ 'Title', 'Comment', 'Comment', 'WarningMsg', 'ErrorMsg' }, child.lua([[
      local out = {}
      for _, g in ipairs({ 'QuillHeader', 'QuillSpinner', 'QuillStats', 'QuillCancelled', 'QuillError' }) do
        table.insert(out, vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID(g)), 'name'))
      end
      return out
    ]]), 'highlight groups link to their defaults')
    eq(false, child.lua("return package.loaded['quill.chat'] ~= nil"), 'chat not loaded at startup')
    child.cmd('runtime plugin/quill.lua') -- guarded: sourcing again is a no-op
  end)

  it('keeps the highlight links after a colorscheme change, and a user override wins', function()
    local child = new_child()
    child.cmd('colorscheme default')
    eq('Title', child.lua([[return vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID('QuillHeader')), 'name')]]))
    child.cmd('highlight link QuillError Special')
    child.lua([[require('quill.stream').define_highlights()]])
    eq('Special', child.lua([[return vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID('QuillError')), 'name')]]))
  end)

  it('status() reports nothing generating without loading the chat modules', function()
    local child = new_child()
    local st = child.lua("return require('quill').status()")
    eq(false, st.busy)
    eq({}, st.chats)
    eq(false, child.lua("return package.loaded['quill.stream'] ~= nil"))
  end)

  it(':QuillInfo starts the backend and shows its version and pid', function()
    local child = new_child()
    child.cmd('QuillInfo')
    child.wait('#notes > 0')
    local note = child.lua('return notes[1]')
    local pid = child.lua("return require('quill.backend').info().pid")
    eq(vim.log.levels.INFO, note.level)
    local version = vim.fn.system({ h.backend_path(), '--version' }):match('^quill%-backend (%S+)')
    h.matches('^quill: quill%-backend ' .. vim.pesc(version) .. ' running %(pid ' .. pid .. ',', note.msg)
    h.matches('methods: .*initialize', note.msg)
    local root = child.lua("return require('quill.backend').workspace_root()")
    h.matches('\nendpoint:  ollama %(ollama, ', note.msg)
    h.matches('\nmodel:     llama3%.2\n', note.msg)
    h.matches('\ntools:     on: offered when the model supports them; edits reviewed by you, left unsaved', note.msg)
    h.matches('\nworkspace: ' .. vim.pesc(root) .. '\n', note.msg)
  end)

  it(':QuillInfo names the endpoint without its credentials, and tools off', function()
    local child = new_child()
    child.lua([[require('quill').setup({ endpoints = { gw = { kind = 'openai', url = 'https://me:secret@gw.example/v1' } },
      endpoint = 'gw', model = 'qwen3', tools = { enabled = false } })]])
    child.cmd('QuillInfo')
    child.wait('#notes > 0')
    local msg = child.lua('return notes[1].msg')
    h.matches('\nendpoint:  gw %(openai, https://%*%*%*@gw%.example/v1%); all: gw, ollama', msg)
    eq(nil, msg:find('secret', 1, true))
    h.matches('\nmodel:     qwen3\n', msg)
    h.matches('\ntools:     off', msg)
  end)

  it(':QuillRestart replaces the process', function()
    local child = new_child()
    child.cmd('QuillInfo')
    child.wait('#notes > 0')
    local pid = child.lua("return require('quill.backend').info().pid")
    child.cmd('QuillRestart')
    child.wait('#notes > 1')
    local info = child.lua("return require('quill.backend').info()")
    h.neq(pid, info.pid)
    ok(not h.pid_alive(pid), 'old backend is gone')
    h.matches('^quill: backend restarted %(pid ' .. info.pid .. '%)', child.lua('return notes[2].msg'))
    eq({ vim.log.levels.INFO, vim.log.levels.INFO }, child.lua('return { notes[1].level, notes[2].level, notes[3] }'))
  end)

  it(':QuillLog opens the configured log file', function()
    local child = new_child()
    local log = vim.fn.tempname() .. '.log'
    vim.fn.writefile({ 'first', 'second', 'newest' }, log)
    child.lua("require('quill').setup({ log_file = ... })", { log })
    child.cmd('QuillLog')
    eq(log, child.lua('return vim.api.nvim_buf_get_name(0)'))
    eq(2, child.lua('return #vim.api.nvim_list_wins()'))
    eq({ 3, 0 }, child.lua('return vim.api.nvim_win_get_cursor(0)'), 'opens at the newest line')
  end)

  it('the log marks where this session starts and is cut when it grows too big', function()
    local child = new_child()
    local log = vim.fn.tempname() .. '.log'
    vim.fn.writefile({ 'an older session', string.rep('x', 200) }, log)
    child.lua([[require('quill').setup({ log_file = ... })
      require('quill.backend').LOG_MAX_BYTES = 100]], { log })
    child.cmd('QuillInfo')
    child.wait('#notes > 0')
    eq({ 'an older session', string.rep('x', 200) }, vim.fn.readfile(log .. '.1'), 'the old log, kept once')
    child.cmd('QuillLog')
    local pid = child.lua('return vim.fn.getpid()')
    local lines = child.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
    h.matches('===== session start %(Neovim pid ' .. pid .. '%) =====$', lines[1])
    eq(#lines, child.lua('return vim.api.nvim_win_get_cursor(0)[1]'), 'at the end')
    h.matches('session starts at line 1', child.lua([[return vim.fn.execute('messages')]]))
    -- a second start (restart) writes no second mark (at 100 bytes it cut the log again)
    child.cmd('QuillRestart')
    child.wait('#notes > 1')
    local text = table.concat(vim.fn.readfile(log), '\n') .. table.concat(vim.fn.readfile(log .. '.1'), '\n')
    local _, marks = text:gsub('session start', '')
    eq(1, marks)
  end)

  it('a log of exactly LOG_MAX_BYTES is not cut', function()
    local child = new_child()
    local log = vim.fn.tempname() .. '.log'
    vim.fn.writefile({ string.rep('x', 99) }, log) -- 100 bytes with its newline
    child.lua([[require('quill').setup({ log_file = ... })
      require('quill.backend').LOG_MAX_BYTES = 100]], { log })
    child.cmd('QuillInfo')
    child.wait('#notes > 0')
    eq(0, vim.fn.filereadable(log .. '.1'), 'not rotated at the limit')
    eq(string.rep('x', 99), vim.fn.readfile(log)[1])
  end)

  it(':QuillInfo reports a missing binary as an error', function()
    local child = new_child()
    child.lua("vim.env.QUILL_BACKEND = '/nonexistent/quill-backend'")
    child.cmd('QuillInfo')
    child.wait('#notes > 0')
    local note = child.lua('return notes[1]')
    eq(vim.log.levels.ERROR, note.level)
    h.matches("make build", note.msg)
  end)
end)
