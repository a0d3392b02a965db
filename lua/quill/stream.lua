-- Streaming answers: one session per chat/send (a chat turn or an inline
-- insertion), token dispatch by chatId, outcome of a turn, status, User
-- events, spinner and stats text. chat.lua and inline.lua own the rendering.
local backend = require('quill.backend')
local config = require('quill.config')
local interrupt = require('quill.interrupt')
local uv = vim.uv or vim.loop

local M = {}

local api = vim.api
local sessions = {} -- chatId -> session
local counter = 0
local handler_registered = false

M.SPINNER = { '⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏' }
M.SPINNER_MS = 100

-- Highlight groups (plugin/quill.lua defines them too, and again after a
-- colorscheme change); `default` so a colorscheme or the user wins.
local HIGHLIGHTS = {
  QuillSpinner = 'Comment',
  QuillStats = 'Comment',
  QuillCancelled = 'WarningMsg',
  QuillError = 'ErrorMsg',
  QuillHeader = 'Title',
  QuillTool = 'Special',
}

function M.define_highlights()
  for name, target in pairs(HIGHLIGHTS) do
    vim.cmd(('highlight default link %s %s'):format(name, target))
  end
end

M.ns = api.nvim_create_namespace('quill')

-- Number of UTF-8 code points; cheap for ASCII (the common case).
local function char_count(s)
  if not s:find('[\128-\255]') then
    return #s
  end
  local _, n = s:gsub('[^\128-\191]', '')
  return n
end
M.char_count = char_count

-- Characters received by session `s`, counted lazily (off the per-token path).
local function chars(s)
  local parts = s.parts
  for i = s.counted + 1, #parts do
    s.chars = s.chars + char_count(parts[i])
  end
  s.counted = #parts
  return s.chars
end

-- Frame pacing ---------------------------------------------------------------

-- Views render at most once per FRAME_MS: text that arrives sooner after the
-- last render waits (merged) for one timer per session, so editor work grows
-- with frames, not tokens. After a quiet spell the next text renders at once.
M.FRAME_MS = 16

-- Render what session `s` received and has not rendered yet.
local function render(s)
  local n = s.unrendered
  if n == 0 then
    return
  end
  local parts = s.parts
  local text = n == 1 and parts[#parts] or table.concat(parts, '', #parts - n + 1, #parts)
  s.unrendered = 0
  local now = uv.now()
  s.rendered_at = now
  s.sink(text)
  -- While text flows the spinner's counts change with the text, in the same redraw, and its
  -- own beat is pushed back: every timer wakeup costs Neovim a turn of its main loop.
  if s.tick then
    if now - s.ticked_at >= M.SPINNER_MS then
      s.ticked_at = now
      s.tick()
    end
    if s.timer and not s.timer:is_closing() then
      s.timer:start(M.SPINNER_MS, 0, s.on_beat)
    end
  end
end
M.render = render

local function render_soon(s)
  if s.frame_due then
    return
  end
  local wait = (s.rendered_at or -M.FRAME_MS) + M.FRAME_MS - uv.now()
  if wait <= 0 then
    return render(s)
  end
  s.frame_due = true
  if not s.frame_timer then
    s.frame_timer = uv.new_timer()
    s.on_frame = vim.schedule_wrap(function()
      s.frame_due = false
      if sessions[s.id] == s then
        render(s)
      end
    end)
  end
  s.frame_timer:start(wait, 0, s.on_frame)
end

-- Token dispatch -------------------------------------------------------------

-- params = {chatId, text, deltas?}: `deltas` is how many provider deltas the
-- text joins (the backend's count, summed by backend._join_tokens).
local function on_token(params)
  if type(params) ~= 'table' then
    return
  end
  local s = sessions[params.chatId]
  local text = params.text
  if not s or type(text) ~= 'string' or text == '' then
    return
  end
  if not s.first_ns then
    s.first_ns = uv.hrtime()
  end
  s.deltas = s.deltas + backend._deltas_of(params)
  local parts = s.parts
  parts[#parts + 1] = text
  s.unrendered = s.unrendered + 1
  render_soon(s)
end

-- params = {chatId, text}: the model's thinking, for sessions that asked for it.
local function on_thinking(params)
  if type(params) ~= 'table' then
    return
  end
  local s = sessions[params.chatId]
  if s and s.on_thinking and type(params.text) == 'string' and params.text ~= '' then
    s.thinking_ns = s.thinking_ns or uv.hrtime()
    s.on_thinking(params.text)
  end
end

-- params = {chatId, stage}: "responding" once the server's first byte came.
local function on_progress(params)
  local s = type(params) == 'table' and sessions[params.chatId] or nil
  if s and params.stage == 'responding' then
    s.responding = true
  end
end

-- params = {chatId, call, status, message?}: the session renders it.
local function on_tool_call(params)
  if type(params) ~= 'table' then
    return
  end
  local s = sessions[params.chatId]
  if s and s.on_tool and type(params.call) == 'table' then
    render(s) -- the text before the call shows above its block
    s.on_tool(params)
  end
end

function M.ensure_handler()
  if handler_registered then
    return
  end
  handler_registered = true
  backend.on_notification('chat/token', on_token)
  backend.on_notification('chat/toolCall', on_tool_call)
  backend.on_notification('chat/thinking', on_thinking)
  backend.on_notification('chat/progress', on_progress)
  require('quill.tools').register()
end

-- Exposed for tests and the benchmark.
M._on_token = on_token
M._on_thinking = on_thinking
M._on_progress = on_progress

-- Events ---------------------------------------------------------------------

local has_data = vim.fn.has('nvim-0.8') == 1

-- Fires `User <name>`; data also lands in vim.g.quill_last_event (0.7 has no
-- autocmd data).
function M.fire(name, data)
  vim.g.quill_last_event = { event = name, data = data }
  local opts = { pattern = name, modeline = false }
  if has_data then
    opts.data = data
  end
  local ok, err = pcall(api.nvim_exec_autocmds, 'User', opts)
  if not ok then
    vim.notify('quill: User ' .. name .. ' autocommand failed: ' .. tostring(err), vim.log.levels.ERROR)
  end
end

-- Formatting -----------------------------------------------------------------

local function seconds(ms)
  if ms < 10000 then
    return string.format('%.2f s', ms / 1000)
  end
  return string.format('%.1f s', ms / 1000)
end

-- Live tokens per second of a session (pieces of text received per second
-- since the first one).
function M.rate(s, now)
  if not s.first_ns or s.deltas < 2 then
    return 0
  end
  local dt = ((now or uv.hrtime()) - s.first_ns) / 1e9
  if dt <= 0 then
    return 0
  end
  return (s.deltas - 1) / dt
end

-- The model as the stats name it: with its endpoint once there is more than one.
function M.model_label(s)
  if s.endpoint and #config.endpoint_names() > 1 then
    return s.endpoint .. ': ' .. tostring(s.model)
  end
  return s.model
end

function M.spinner_text(s, frame)
  local icon = M.SPINNER[(frame % #M.SPINNER) + 1]
  local label = M.model_label(s)
  if not s.first_ns then
    -- a model loading, or one thinking first, can take a while: show that time passes
    local waited = math.floor((uv.hrtime() - s.start_ns) / 1e9)
    if waited < 1 then
      return string.format('%s %s: waiting for the first token', icon, label)
    end
    -- before the server's first byte the model is (usually) being loaded
    local what = s.thinking_ns and 'thinking' or (s.responding and 'waiting for the first token') or 'loading…'
    return string.format('%s %s: %s · %d s', icon, label, what, waited)
  end
  return string.format('%s %s: %d tokens, %.1f tok/s', icon, label, s.deltas, M.rate(s))
end

-- Joins stats parts, dropping the least useful ones (first token, then the
-- duration, then the model) until the text fits `room` display cells, and
-- cutting it with "…" when even the counts do not fit.
local function fit(parts, room)
  local text = table.concat(parts, ' · ')
  if not room then
    return text
  end
  local width = vim.fn.strdisplaywidth
  for _, drop in ipairs({ 'first', 'time', 'model' }) do
    if width(text) <= room then
      return text
    end
    for i, part in ipairs(parts) do
      if parts.kinds[i] == drop then
        table.remove(parts, i)
        table.remove(parts.kinds, i)
        break
      end
    end
    text = table.concat(parts, ' · ')
  end
  if width(text) <= room then
    return text
  end
  if room < 2 then
    return ''
  end
  return vim.fn.strcharpart(text, 0, room - 1) .. '…'
end

-- "llama3.2 · first token 0.40 s · 123 tokens · 43.8 tok/s · 3.90 s"; uses
-- the backend's stats when it sent them, local measurements otherwise.
-- `room`: the display cells it may take (nil: all of it).
function M.stats_text(s, stats, room)
  local parts = { M.model_label(s), kinds = { 'model' } }
  local function add(kind, text)
    table.insert(parts, text)
    table.insert(parts.kinds, kind)
  end
  local elapsed_ms = ((s.done_ns or uv.hrtime()) - s.start_ns) / 1e6
  -- A cancelled turn never got Ollama's final counts: its zeros would read as "0 tokens".
  if type(stats) == 'table' and (stats.evalCount or 0) > 0 then
    if type(stats.firstTokenMs) == 'number' then
      add('first', 'first token ' .. seconds(stats.firstTokenMs))
    end
    add('count', string.format('%d tokens', stats.evalCount or s.deltas))
    add('rate', string.format('%.1f tok/s', stats.tokensPerSecond or M.rate(s, s.done_ns)))
    add('time', seconds(stats.totalDurationMs or elapsed_ms))
  else
    -- no counts from the backend (an error, a cancel): what was measured here
    if s.first_ns then
      add('first', 'first token ' .. seconds((s.first_ns - s.start_ns) / 1e6))
      add('count', string.format('%d tokens', s.deltas))
    end
    if s.deltas > 1 then
      add('rate', string.format('%.1f tok/s', M.rate(s, s.done_ns)))
    end
    add('time', seconds(elapsed_ms))
  end
  return fit(parts, room)
end

-- Sessions -------------------------------------------------------------------

-- Starts session `s` on `messages` with its spinner: `tick` runs now, with renders at most every
-- SPINNER_MS, and on its own beat only when nothing rendered for SPINNER_MS (waiting for the
-- first token, a pause). One timer per session, restarted, never one per beat or render.
function M.start_with_spinner(s, messages, tick)
  M.start(s, messages)
  s.ticked_at = uv.now()
  tick()
  s.tick = tick
  local timer = uv.new_timer()
  s.timer = timer
  s.on_beat = vim.schedule_wrap(function()
    if timer:is_closing() then
      return
    end
    s.ticked_at = uv.now()
    tick()
    timer:start(M.SPINNER_MS, 0, s.on_beat)
  end)
  timer:start(M.SPINNER_MS, 0, s.on_beat)
end

function M.stop_timer(timer)
  if timer and not timer:is_closing() then
    timer:stop()
    timer:close()
  end
end

function M.next_id(kind)
  counter = counter + 1
  return kind .. '-' .. counter
end

-- The chat/send params for `messages` under the current config; `tools`:
-- offer the tool catalogue. `model` and `endpoint` (names) default to the configured ones.
function M.params(chat_id, messages, tools, stream_thinking, model, endpoint_name)
  local cfg = config.get()
  local params = { chatId = chat_id, model = model or cfg.model, messages = messages }
  local endpoint = config.endpoint(endpoint_name)
  params.endpoint = (endpoint or {}).name
  if stream_thinking then
    params.streamThinking = true
  end
  params.maxAnswerBytes = cfg.chat.max_answer_bytes
  if tools then
    params.tools = cfg.tools.offer or true
    params.maxRounds = cfg.tools.max_rounds
  end
  -- an endpoint's own options; the global ones are Ollama's (num_ctx means nothing to others)
  local options = endpoint and endpoint.options or ((not endpoint or endpoint.kind == 'ollama') and cfg.options) or {}
  if next(options) then
    params.options = options
  end
  if cfg.system_prompt then
    params.system = cfg.system_prompt
  end
  return params
end

-- Turns the chat/send answer into an outcome:
--   { status = 'done'|'cancelled'|'error', reason, messages, stats, error_kind, message }
-- `messages` are the Messages to append to the conversation. When the backend
-- sent none (it died, or could not be started), the text already shown is
-- kept as a partial assistant message.
local function outcome(s, err, result)
  local text = table.concat(s.parts)
  local function shown()
    if text ~= '' then
      return { { role = 'assistant', content = text } }
    end
    return {}
  end
  if not err then
    result = type(result) == 'table' and result or {}
    local messages = type(result.messages) == 'table' and result.messages or shown()
    local reason = type(result.doneReason) == 'string' and result.doneReason or 'stop'
    return {
      status = reason == 'cancelled' and 'cancelled' or 'done',
      reason = reason,
      messages = messages,
      stats = type(result.stats) == 'table' and result.stats or nil,
      note = type(result.note) == 'string' and result.note or nil, -- e.g. why a tool_limit turn stopped
      text = text,
    }
  end
  if err.code == backend.errors.RequestCancelled then
    -- cancelled before it reached the backend
    return { status = 'cancelled', reason = 'cancelled', messages = shown(), text = text }
  end
  local data = type(err.data) == 'table' and err.data or {}
  local kind = 'rpc'
  if err.code == backend.errors.ProviderError then
    kind = type(data.kind) == 'string' and data.kind or 'provider'
  elseif err.code == backend.errors.BackendExited then
    kind = 'backend_exited'
  elseif err.code == backend.errors.BackendUnavailable then
    kind = 'backend_unavailable'
  elseif err.code == backend.errors.MethodNotFound then
    kind = 'unsupported'
  end
  local message = tostring(err.message or 'error'):gsub('^quill: ', '')
  if kind == 'unsupported' then
    message = message .. ' (this quill-backend cannot chat yet: rebuild it)'
  end
  local messages = shown()
  if err.code == backend.errors.ProviderError and type(data.messages) == 'table' then
    messages = data.messages
  end
  return {
    status = 'error',
    reason = 'error',
    error_kind = kind,
    message = message,
    messages = messages,
    text = text,
  }
end

local function event_data(s, o)
  local data = { chatId = s.id, kind = s.kind, model = s.model, bufnr = s.bufnr }
  if o then
    data.status = o.status
    data.reason = o.reason
    data.error_kind = o.error_kind
    data.message = o.message
    data.stats = o.stats
    data.tokens = s.deltas
    data.chars = chars(s)
  end
  return data
end

-- While answers stream, a <C-c> Neovim turned into an interrupt (see interrupt.lua) cancels
-- those of the current buffer (chat: Normal and Insert mode, inline: Normal mode, like the
-- mappings). Only a first cancel is sent.
local function cancel_current(mode)
  local buf = api.nvim_get_current_buf()
  for _, s in pairs(sessions) do
    local modes = s.kind == 'chat' and 'ni' or 'n'
    if s.bufnr == buf and not s.cancel_requested and modes:find(mode:sub(1, 1), 1, true) then
      M.cancel(s)
    end
  end
end

local function watch_keys()
  local key = config.get().keymaps.cancel
  if next(sessions) ~= nil and type(key) == 'string' and key:lower() == '<c-c>' then
    interrupt.watch('stream', cancel_current)
  else
    interrupt.unwatch('stream')
  end
end

-- Finish session `s` once: unregister it, render (s.on_done), fire the event.
local function complete(s, err, result)
  if sessions[s.id] ~= s then
    return
  end
  render(s) -- every token before the outcome
  M.stop_timer(s.frame_timer)
  s.frame_timer = nil
  sessions[s.id] = nil
  watch_keys()
  if package.loaded['quill.review'] then
    require('quill.review').forget(s.id) -- "accept all" lasts one answer
  end
  s.done_ns = uv.hrtime()
  local o = outcome(s, err, result)
  local ok, e = pcall(s.on_done, o)
  M.fire('QuillStreamDone', event_data(s, o))
  if not ok then
    error(e, 0)
  end
end

-- Capabilities reported by models/show, per model name.
local model_caps = {}

function M.forget_capabilities()
  model_caps = {}
end

-- Decide whether session `s` offers tools, then cb(on, notice). Tools need
-- s.tools (true, or nil to follow tools.enabled; :QuillTools sets it per chat,
-- inline sessions set false), a backend that runs tool rounds (initialize's
-- capabilities.tools) and a model whose models/show lists "tools". A failed
-- check sends without tools: the chat/send error then explains.
local function tools_gate(s, cb)
  local wanted = s.tools
  if wanted == nil then
    wanted = config.get().tools.enabled
  end
  if not wanted then
    return cb(false)
  end
  backend.start(function(err, init)
    if sessions[s.id] ~= s then
      return
    end
    local caps = not err and type(init) == 'table' and type(init.capabilities) == 'table' and init.capabilities.tools
    if type(caps) ~= 'table' or #caps == 0 then
      return cb(false)
    end
    local model = s.model
    local endpoint = config.endpoint(s.endpoint) or { name = 'ollama', kind = 'ollama', tools = 'auto' }
    -- An endpoint's own setting decides; 'auto' asks Ollama what the model can do, and offers
    -- them to an OpenAI-compatible server (which has no such question; a refusal is retried
    -- without them by the backend).
    if endpoint.tools ~= 'auto' or endpoint.kind ~= 'ollama' then
      return cb(endpoint.tools ~= false)
    end
    local function decide(list)
      if vim.tbl_contains(list, 'tools') then
        return cb(true)
      end
      cb(false, ('tools are off: %s does not support them'):format(model))
    end
    local key = endpoint.name .. '\0' .. model
    if model_caps[key] then
      return decide(model_caps[key])
    end
    s.show_id = backend.request('models/show', { model = model, endpoint = endpoint.name }, function(e, r)
      s.show_id = nil
      if sessions[s.id] ~= s then
        return
      end
      if e or type(r) ~= 'table' or type(r.capabilities) ~= 'table' then
        return cb(false)
      end
      model_caps[key] = r.capabilities
      decide(r.capabilities)
    end)
  end)
end

-- Start a chat/send for session `s`:
--   s = { kind, bufnr, sink = function(text), on_done = function(outcome),
--         tools = offer tools?, on_tool = function(params), on_notice = function(text) }
-- Fills in id, model, counters. Returns s.
function M.start(s, messages)
  M.ensure_handler()
  s.id = s.id or M.next_id(s.kind)
  -- a conversation's own model and endpoint, else the configured ones (an endpoint gone from
  -- the config since: the configured one)
  if s.endpoint and not config.endpoint(s.endpoint) then
    s.endpoint = nil
  end
  s.endpoint = s.endpoint or (config.endpoint() or {}).name
  s.model = s.model or config.get().model
  s.deltas, s.chars, s.counted, s.parts, s.unrendered = 0, 0, 0, {}, 0
  s.start_ns = uv.hrtime()
  sessions[s.id] = s
  watch_keys()
  M.fire('QuillStreamStart', event_data(s))
  tools_gate(s, function(tools_on, notice)
    if sessions[s.id] ~= s then
      return
    end
    s.tools_on = tools_on
    if notice and s.on_notice then
      s.on_notice(notice)
    end
    local params = M.params(s.id, messages, tools_on, s.on_thinking ~= nil, s.model, s.endpoint)
    local sent, id = pcall(backend.request, 'chat/send', params, function(err, result)
      complete(s, err, result)
    end)
    if sent then
      s.request_id = id
    else
      -- a conversation that cannot be encoded (nested too deep): the turn ends, saying why
      complete(s, { code = backend.errors.InternalError,
        message = 'quill: this conversation cannot be sent: ' .. tostring(id):gsub('^.-:%d+: ', '') })
    end
  end)
  return s
end

-- End the session here without waiting for the backend (its late answer and
-- tokens are ignored); what was shown is kept as a cancelled answer.
function M.abandon(s)
  complete(s, { code = backend.errors.RequestCancelled, message = 'cancelled' })
end

-- Ask the backend to end the turn; its chat/send answer (a result with
-- doneReason "cancelled") finishes the session. Cancelling again before that
-- answer came ends the session locally.
function M.cancel(s)
  if not s or sessions[s.id] ~= s then
    return false
  end
  if s.cancel_requested then
    M.abandon(s)
    return true
  end
  s.cancel_requested = true
  if s.show_id then
    backend.cancel(s.show_id) -- still asking whether the model has tools
  end
  if not s.request_id or not backend.cancel(s.request_id) then
    M.abandon(s)
  end
  return true
end

function M.active()
  local list = {}
  for _, s in pairs(sessions) do
    table.insert(list, s)
  end
  table.sort(list, function(a, b)
    return a.start_ns < b.start_ns
  end)
  return list
end

function M.get(chat_id)
  return sessions[chat_id]
end

-- Cancel the sessions showing in `bufnr` (all when nil). Returns how many.
function M.cancel_all(bufnr)
  local n = 0
  for _, s in ipairs(M.active()) do
    if bufnr == nil or s.bufnr == bufnr then
      if M.cancel(s) then
        n = n + 1
      end
    end
  end
  return n
end

function M.status()
  local chats = {}
  local busy = false
  local now = uv.hrtime()
  for id, s in pairs(sessions) do
    busy = true
    chats[id] = {
      kind = s.kind,
      model = s.model,
      bufnr = s.bufnr,
      tokens = s.deltas,
      chars = chars(s),
      tokens_per_second = M.rate(s, now),
      elapsed_ms = math.floor((now - s.start_ns) / 1e6),
    }
  end
  return busy, chats
end

return M
