-- Implementations of the user commands in plugin/quill.lua.
local M = {}

local levels = vim.log.levels

-- The current conversation's model and endpoint (nil each: the configured ones).
local function chat_settings()
  return package.loaded['quill.chat'] and require('quill.chat').current_settings() or {}
end

-- The model the current conversation uses.
local function current_model()
  return chat_settings().model or require('quill.config').get().model
end

-- The current conversation's endpoint's name and whether it is Ollama (which can pull models).
local function current_endpoint()
  local config = require('quill.config')
  local e = config.endpoint(chat_settings().endpoint) or config.endpoint() or { name = 'ollama', kind = 'ollama' }
  return e.name, e.kind == 'ollama'
end

local function describe(backend)
  local config = require('quill.config')
  local cfg = config.get()
  local info = backend.info()
  local server = info.server_info or {}
  local caps = info.capabilities or {}
  local e = config.endpoint((current_endpoint())) or { name = tostring(cfg.endpoint), kind = '?' }
  local health = require('quill.health')
  local url = e.url and health.redact_host(e.url) or health.host_of(cfg)
  local names = config.endpoint_names(cfg)
  local endpoint = ('%s (%s, %s)'):format(e.name, e.kind, url)
  if #names > 1 then
    endpoint = endpoint .. ('; all: %s (:QuillEndpoint)'):format(table.concat(names, ', '))
  end
  local tools = package.loaded['quill.chat'] and require('quill.chat').tools_enabled() or cfg.tools.enabled
  local tools_text = tools
      and ('on: offered when the model supports them; edits %s, %s'):format(
        cfg.tools.auto_approve and 'applied without asking' or 'reviewed by you',
        cfg.tools.write and 'written to disk' or 'left unsaved in buffers')
    or 'off in this chat (:QuillTools)'
  return table.concat({
    string.format('quill: %s %s running (pid %s, restarts %d)', tostring(server.name), tostring(server.version),
      tostring(info.pid), info.restarts),
    'endpoint:  ' .. endpoint,
    'model:     ' .. tostring(current_model()),
    'tools:     ' .. tools_text,
    'workspace: ' .. backend.workspace_root(),
    'binary:    ' .. info.cmd,
    'log:       ' .. info.log_file,
    'methods:   ' .. table.concat(type(caps.methods) == 'table' and caps.methods or {}, ', '),
  }, '\n')
end
M._describe = describe

-- :QuillInfo. Starting (if needed) includes the initialize round trip, so the
-- report reflects a backend that has answered.
function M.info()
  local backend = require('quill.backend')
  backend.start(function(err)
    if err then
      vim.notify(err.message, levels.ERROR)
    else
      vim.notify(describe(backend), levels.INFO)
    end
  end)
end

-- :QuillRestart
function M.restart()
  local backend = require('quill.backend')
  backend.stop()
  backend.start(function(err)
    if err then
      vim.notify(err.message, levels.ERROR)
    else
      vim.notify(string.format('quill: backend restarted (pid %s)', tostring(backend.info().pid)), levels.INFO)
    end
  end)
end

-- :QuillLog
function M.log()
  local backend = require('quill.backend')
  local path = backend.log_file()
  vim.cmd('split ' .. vim.fn.fnameescape(path))
  -- the newest lines are what one looks for; reloaded when the backend writes more
  vim.bo.autoread = true
  vim.cmd('normal! G')
  -- where this Neovim's session begins: highlighted, and said
  local marker = backend.session_line()
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  for row = #lines, 1, -1 do
    if lines[row]:find(marker, 1, true) then
      local ns = vim.api.nvim_create_namespace('quill_log')
      vim.api.nvim_buf_clear_namespace(0, ns, 0, -1)
      vim.api.nvim_buf_add_highlight(0, ns, 'Title', row - 1, 0, -1)
      vim.api.nvim_echo({ { ('quill: this Neovim\'s session starts at line %d (:%d)'):format(row, row) } }, true, {})
      break
    end
  end
end

-- :[range]QuillInsert [instruction]; asks for the instruction when there is none.
function M.insert(instruction, range)
  local inline = require('quill.inline')
  if instruction and vim.trim(instruction) ~= '' then
    return inline.insert(instruction, { range = range })
  end
  local buf, win = vim.api.nvim_get_current_buf(), vim.api.nvim_get_current_win()
  local cursor = vim.api.nvim_win_get_cursor(win)
  vim.ui.input({ prompt = range and 'quill: rewrite the lines: ' or 'quill: insert: ' }, function(text)
    if not text or vim.trim(text) == '' then
      return
    end
    -- the input UI may have moved focus; insert where the command was given
    if vim.api.nvim_win_is_valid(win) and vim.api.nvim_win_get_buf(win) == buf then
      vim.api.nvim_set_current_win(win)
      vim.api.nvim_win_set_cursor(win, cursor)
      inline.insert(text, { range = range })
    end
  end)
end

local model_names = {} -- from the last models/list, for completion

-- Ollama names a model without a tag as `:latest`: `llama3.2` is `llama3.2:latest`.
function M.same_model(a, b)
  local function full(n)
    return n:find(':', 1, true) and n or (n .. ':latest')
  end
  return type(a) == 'string' and type(b) == 'string' and full(a) == full(b)
end

-- The models that can chat, and what each can do besides (from /api/tags' capabilities, when the
-- server reports them): { names = {...}, marks = { [name] = 'tools, vision' } }. A model that
-- only embeds is left out: it cannot answer.
local function chat_models(result)
  local out = { names = {}, marks = {} }
  for _, m in ipairs(type(result) == 'table' and type(result.models) == 'table' and result.models or {}) do
    if type(m) == 'table' and type(m.name) == 'string' then
      local caps = type(m.capabilities) == 'table' and m.capabilities or nil
      if not (caps and vim.tbl_contains(caps, 'embedding') and not vim.tbl_contains(caps, 'completion')) then
        table.insert(out.names, m.name)
        local marks = {}
        for _, c in ipairs({ 'tools', 'vision', 'thinking' }) do
          if caps and vim.tbl_contains(caps, c) then
            table.insert(marks, c)
          end
        end
        out.marks[m.name] = #marks > 0 and table.concat(marks, ', ') or nil
      end
    end
  end
  return out
end

local function names_of(result)
  return chat_models(result).names
end

-- The default from now on, and the current conversation's.
local function set_model(name)
  require('quill.config').get().model = name
  if package.loaded['quill.chat'] then
    require('quill.chat').set_current(name, nil)
  end
  vim.notify('quill: model ' .. name, levels.INFO)
end


-- :QuillModel [name]: set the model, or pick one of those the current endpoint has.
function M.model(name)
  local backend = require('quill.backend')
  local endpoint, ollama = current_endpoint()
  local where = endpoint == 'ollama' and 'the provider' or ('endpoint ' .. endpoint)
  if name and vim.trim(name) ~= '' then
    name = vim.trim(name)
    set_model(name)
    -- a name the provider does not have is said now, not at the first send
    backend.request('models/list', { endpoint = endpoint }, function(err, result)
      if err then
        return
      end
      model_names = names_of(result)
      for _, n in ipairs(model_names) do
        if M.same_model(n, name) then
          return
        end
      end
      -- a server may list thousands: name a few
      local shown = { unpack(model_names, 1, 10) }
      if #model_names > #shown then
        table.insert(shown, ('and %d more'):format(#model_names - #shown))
      end
      vim.notify(('quill: %s has no model %s (it has: %s)%s'):format(where, name,
        #shown > 0 and table.concat(shown, ', ') or 'none',
        ollama and ('; `ollama pull ' .. name .. '` fetches it') or ''), levels.WARN)
    end)
    return
  end
  backend.request('models/list', { endpoint = endpoint }, function(err, result)
    if err then
      vim.notify('quill: cannot list models: ' .. tostring(err.message):gsub('^quill: ', ''), levels.ERROR)
      return
    end
    local models = chat_models(result)
    local names = models.names
    model_names = names
    if #names == 0 then
      vim.notify('quill: ' .. where .. ' has no models' .. (ollama and ': run `ollama pull <model>`' or ''), levels.WARN)
      return
    end
    local current = current_model()
    vim.ui.select(names, {
      prompt = 'quill model',
      format_item = function(n)
        local text = models.marks[n] and (n .. '  [' .. models.marks[n] .. ']') or n
        return M.same_model(n, current) and (text .. ' (current)') or text
      end,
    }, function(choice)
      if choice then
        -- after the picker's own output: a redraw first, so the message asks for no Enter
        vim.schedule(function()
          vim.cmd('redraw')
          set_model(choice)
        end)
      end
    end)
  end)
end

local listed_at = nil -- uv.now() of the last models/list asked for completion

-- Refresh the names completion offers, in the background, at most every few seconds.
function M.prefetch_models()
  local now = (vim.uv or vim.loop).now()
  if listed_at and now - listed_at < 3000 then
    return
  end
  listed_at = now
  require('quill.backend').request('models/list', { endpoint = (current_endpoint()) }, function(err, result)
    if not err then
      model_names = names_of(result)
    end
  end)
end

-- Completion for :QuillModel: names from the last listing, asked for as soon as the command is
-- being typed (plugin/quill.lua) so the first <Tab> has them; refreshed for the next one.
function M.complete_models(lead)
  M.prefetch_models()
  return vim.tbl_filter(function(n)
    return n:sub(1, #lead) == lead
  end, model_names)
end

-- :QuillEndpoint [name]: the endpoint chats use from the next turn, or pick one. An endpoint with
-- its own `model` brings it along.
function M.endpoint(name)
  local config = require('quill.config')
  local function use(n)
    local e = config.endpoint(n)
    if not e then
      vim.notify(('quill: no endpoint %s (configured: %s)'):format(n, table.concat(config.endpoint_names(), ', ')),
        levels.ERROR)
      return
    end
    local cfg = config.get()
    cfg.endpoint = e.name
    if e.model then
      cfg.model = e.model
    end
    if package.loaded['quill.chat'] then
      require('quill.chat').set_current(e.model, e.name)
    end
    vim.notify(('quill: endpoint %s (%s%s), model %s'):format(e.name, e.kind,
      e.url and (' ' .. require('quill.health').redact_host(e.url)) or '', current_model()), levels.INFO)
  end
  if name and vim.trim(name) ~= '' then
    return use(vim.trim(name))
  end
  local current = current_endpoint()
  vim.ui.select(config.endpoint_names(), {
    prompt = 'quill endpoint',
    format_item = function(n)
      local e = config.endpoint(n)
      return n .. ' (' .. e.kind .. ')' .. (n == current and ' (current)' or '')
    end,
  }, function(choice)
    if choice then
      vim.schedule(function()
        vim.cmd('redraw')
        use(choice)
      end)
    end
  end)
end

function M.complete_endpoints(lead)
  return vim.tbl_filter(function(n)
    return n:sub(1, #lead) == lead
  end, require('quill.config').endpoint_names())
end

return M
