-- The chat: conversations (conversation.lua), each shown in its own buffer (chat_view.lua),
-- several streaming at once (chat_turn.lua), saved after every turn (chat_store.lua) so that
-- neither a backend crash nor a wiped buffer nor a restart loses one. This module keeps the
-- conversations of this Neovim and implements the chat's commands.
local config = require('quill.config')
local context = require('quill.context')
local conversation = require('quill.conversation')
local store = require('quill.chat_store')
local stream = require('quill.stream')
local turn = require('quill.chat_turn')
local view = require('quill.chat_view')
local writer = require('quill.writer')

local M = {}

local api = vim.api

M.NAME, M.YOU, M.ASSISTANT = view.NAME, view.YOU, view.ASSISTANT
for _, name in ipairs({ 'block_path', 'open_block_file', 'jump_turn', 'code_block_at', 'yank_code', 'keys_text',
  'show_keys', 'close', 'split_size' }) do
  M[name] = view[name]
end

-- The conversations of this Neovim, id -> Conversation. A conversation's view fields: buf, win
-- (the window last showing it), you_mark (extmark on the last `## You` header), shown (the lines
-- above the last `## You` as quill left them).
local convs = {}
local last_used = nil -- the conversation used last

local function touch(c)
  last_used = c
  conversation.touch(c)
end

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.WARN)
end

local buf_valid, you_row, mark_you = view.buf_valid, view.you_row, view.mark_you

-- Another Neovim changed this conversation's file: this one goes on under a new id.
store.on_fork = function(c, old)
  if convs[old] == c then
    convs[old] = nil
    convs[c.id] = c
  end
  if buf_valid(c) then
    pcall(api.nvim_buf_set_name, c.buf, view.NAME .. '/' .. c.id)
  end
  local title = conversation.title(c)
  vim.schedule(function()
    notify(('quill: the chat "%s" was changed in another Neovim; this one goes on as a copy (:QuillChats lists both)')
      :format(title))
  end)
end
local ensure_buffer = view.ensure_buffer

local function show(c)
  local buf, win = view.show(c)
  touch(c)
  return buf, win
end

-- Conversations --------------------------------------------------------------

local function add(c)
  convs[c.id] = c
  touch(c)
  return c
end

-- The conversation in use here: the current buffer's, else the one shown in this tab, else the
-- one used last; nil when there is none.
local function current()
  local c = view.conversation_of(api.nvim_get_current_buf())
  if c then
    return c
  end
  local win = view.tab_chat_win()
  if win then
    return view.conversation_of(api.nvim_win_get_buf(win))
  end
  if last_used and convs[last_used.id] == last_used then
    return last_used
  end
  return nil
end

local function current_or_new()
  return current() or add(conversation.new())
end

-- Open the chat split, or focus it when it is open. Returns buf, win.
function M.open()
  return show(current_or_new())
end

-- The buffer of the current conversation (created on first use).
function M.ensure_buffer()
  return ensure_buffer(current_or_new())
end

local function trim_blank(lines)
  local first, last = 1, #lines
  while first <= last and vim.trim(lines[first]) == '' do
    first = first + 1
  end
  while last >= first and vim.trim(lines[last]) == '' do
    last = last - 1
  end
  return { unpack(lines, first, last) }
end

-- The conversation the model gets is the history, not the buffer: a send after the earlier turns
-- were changed in the buffer is refused, saying so, and nothing is lost.
local function refuse_edited(c, buf, you)
  if not view.earlier_turns_edited(c, buf, you) then
    return false
  end
  notify('quill: the earlier turns in the chat were changed, but the model knows them as they were: '
    .. 'undo the change (u) to send, or :QuillNew to start afresh')
  return true
end

local function still_streaming()
  notify('quill: an answer is still streaming in this chat; cancel it with <C-c> or :QuillCancel, '
    .. 'or :QuillNew for another chat')
end

-- Send what the user wrote under the last `## You` of conversation `c`.
function M.send_in(c)
  touch(c)
  if c.turn then
    still_streaming()
    return nil
  end
  local buf = ensure_buffer(c)
  local you = you_row(c, buf)
  if not you then
    local n = api.nvim_buf_line_count(buf)
    api.nvim_buf_set_lines(buf, n, n, false, { '', M.YOU, '', '' })
    mark_you(c, buf, n + 1)
    notify('quill: write your question under "## You", then send it')
    return nil
  end
  local prompt = trim_blank(api.nvim_buf_get_lines(buf, you + 1, -1, false))
  if #prompt == 0 then
    notify('quill: nothing to send: write your question under "## You"')
    return nil
  end
  if refuse_edited(c, buf, you) then
    return nil
  end
  return turn.submit(c, buf, you, prompt, { origin = context.origin() })
end

-- Send what the user wrote in the current conversation.
function M.send()
  return M.send_in(current_or_new())
end

-- `opts.range`: the lines given to :'<,'>QuillChat, in the buffer it was typed in; `opts.origin`:
-- that buffer, when the chat has the focus already.
local function send_prompt(c, prompt, opts)
  opts = opts or {}
  -- what #buffer means is where the command was typed, before the chat takes the focus
  local where = { origin = opts.origin or context.origin() }
  if opts.range then
    where.range, where.range_buf = opts.range, where.origin
    if prompt and not prompt:find('#selection') then
      prompt = vim.trim(prompt or '') .. ' #selection'
    end
  end
  local buf, win = show(c)
  if not prompt or vim.trim(prompt) == '' then
    return buf, win
  end
  if c.turn then
    still_streaming()
    return buf, win
  end
  local you = you_row(c, buf)
  if not you then
    local n = api.nvim_buf_line_count(buf)
    api.nvim_buf_set_lines(buf, n, n, false, { '', M.YOU })
    you = n + 1
    mark_you(c, buf, you)
  elseif refuse_edited(c, buf, you) then
    return buf, win
  end
  turn.submit(c, buf, you, writer.split_lines(prompt), where)
  return buf, win
end

-- :QuillChat [prompt]: open or focus the current conversation (one is made when there is none);
-- with a prompt, send it. opts.range = { first, last }: :'<,'>QuillChat, the lines attached.
function M.chat(prompt, opts)
  return send_prompt(current_or_new(), prompt, opts)
end

-- Cancel the running turn of the current conversation (see stream.cancel).
function M.cancel()
  local c = current()
  local s = c and c.turn
  if not s then
    return false
  end
  return stream.cancel(s)
end

-- :QuillNew [prompt]: a new conversation in its own buffer, shown in the chat window and
-- focused; the others stay as they are (an answer streaming in one goes on). With a prompt, it
-- is sent at once.
function M.new(prompt, opts)
  opts = vim.tbl_extend('force', { origin = context.origin() }, opts or {})
  local c = add(conversation.new())
  local buf, win = show(c)
  api.nvim_win_set_cursor(win, { 3, 0 })
  if prompt and vim.trim(prompt) ~= '' then
    send_prompt(c, prompt, opts)
  end
  return buf
end

-- :QuillUndo: take back what an answer of the current conversation changed through tools (the
-- last such answer, or one picked when there are several).
function M.undo()
  local applied = require('quill.applied')
  local c = current()
  local choices = {}
  for i = #((c and c.answers) or {}), 1, -1 do
    local a = c.answers[i]
    local n = applied.count(a.id)
    if n > 0 then
      table.insert(choices, { id = a.id, prompt = a.prompt, n = n })
    end
  end
  if #choices == 0 then
    notify('quill: no answer of this chat changed files (in this Neovim session)', vim.log.levels.INFO)
    return false
  end
  local function go(choice)
    if c.turn and c.turn.id == choice.id then
      notify('quill: that answer is still streaming; cancel it first')
      return
    end
    local report = applied.undo(choice.id)
    local parts = {}
    if #report.undone > 0 then
      table.insert(parts, 'undid ' .. table.concat(report.undone, ', '))
    end
    if #report.refused > 0 then
      table.insert(parts, 'left alone: ' .. table.concat(report.refused, '; '))
    end
    notify('quill: ' .. table.concat(parts, '; '), #report.refused > 0 and vim.log.levels.WARN or vim.log.levels.INFO)
  end
  if #choices == 1 then
    go(choices[1])
    return true
  end
  vim.ui.select(choices, {
    prompt = 'quill: undo the changes of which answer?',
    format_item = function(a)
      return ('%s (%d change%s)'):format(a.prompt, a.n, a.n == 1 and '' or 's')
    end,
  }, function(choice)
    if choice then
      vim.schedule(function()
        go(choice)
      end)
    end
  end)
  return true
end

-- The model and endpoint names of the current conversation (nil: the configured ones), or nil
-- when there is no conversation.
function M.current_settings()
  local c = current()
  return c and { model = c.model, endpoint = c.endpoint } or nil
end

-- :QuillModel and :QuillEndpoint set them for the current conversation (when there is one): its
-- next turns use them, whatever a later setup() says.
function M.set_current(model, endpoint)
  local c = current()
  if not c then
    return
  end
  c.model = model or c.model
  c.endpoint = endpoint or c.endpoint
  store.save(c)
end

-- Whether the current conversation offers tools (:QuillTools, else tools.enabled).
function M.tools_enabled()
  local c = current()
  if not c or c.tools == nil then
    return config.get().tools.enabled
  end
  return c.tools
end

-- :QuillTools: offer tools in the current conversation or not ('on', 'off'; nil or ''
-- toggles), whatever tools.enabled says. Returns the new setting.
function M.set_tools(arg)
  local c = current_or_new()
  local now = c.tools
  if now == nil then
    now = config.get().tools.enabled
  end
  if arg == 'on' then
    c.tools = true
  elseif arg == 'off' then
    c.tools = false
  elseif arg == nil or arg == '' then
    c.tools = not now
  else
    notify(("quill: :QuillTools takes 'on' or 'off' (got '%s')"):format(arg), vim.log.levels.ERROR)
    return now
  end
  store.save(c)
  notify(('quill: tools %s for this chat'):format(c.tools and 'on' or 'off'), vim.log.levels.INFO)
  return c.tools
end

-- The list of conversations --------------------------------------------------

-- Every conversation, those of this Neovim and the saved ones, newest first, as
-- { id, title, model, endpoint, updated, busy, last_answer }; and the saved files that were
-- skipped ("NAME: why").
function M.list()
  local seen, list = {}, {}
  local function entry(c)
    seen[c.id] = true
    table.insert(list, {
      id = c.id,
      title = conversation.title(c),
      model = c.model or c.used_model or config.get().model,
      endpoint = c.endpoint or c.used_endpoint or (config.endpoint() or {}).name,
      updated = c.updated,
      activity = c.activity or 0,
      busy = c.turn ~= nil,
      last_answer = conversation.last_answer_line(c),
    })
  end
  for _, c in pairs(convs) do
    if #c.history > 0 or c.turn or buf_valid(c) then
      entry(c)
    end
  end
  local saved, skipped = store.list()
  for _, c in ipairs(saved) do
    if not seen[c.id] then
      entry(c)
    end
  end
  table.sort(list, function(a, b)
    if a.updated ~= b.updated then
      return a.updated > b.updated
    end
    if a.activity ~= b.activity then
      return a.activity > b.activity
    end
    return a.id > b.id
  end)
  return list, skipped
end

-- The conversation `id`: of this Neovim, else loaded from its file. nil and why when neither.
local function find(id)
  if convs[id] then
    return convs[id]
  end
  local c, why = store.load(id)
  if not c then
    return nil, why
  end
  return add(c)
end

-- Show conversation `id` in the chat window, as it was. Returns its buffer, or nil.
function M.open_chat(id)
  local c, why = find(id)
  if not c then
    notify(('quill: no chat %s: %s'):format(tostring(id), tostring(why)), vim.log.levels.ERROR)
    return nil
  end
  return (show(c))
end

function M.rename(id, title)
  local c, why = find(id)
  if not c then
    notify(('quill: no chat %s: %s'):format(tostring(id), tostring(why)), vim.log.levels.ERROR)
    return false
  end
  title = vim.trim((tostring(title or ''):gsub('%c', ' ')))
  c.title = title ~= '' and title:sub(1, 200) or nil
  c.saved = true -- even an empty chat keeps its name
  store.save(c)
  return true
end

-- Delete conversation `id`: its file, its buffer. Refused while it streams.
function M.delete(id)
  local c = convs[id]
  if c and c.turn then
    notify('quill: the chat is still streaming; cancel it first (:QuillCancel in it)')
    return false
  end
  local ok, why = store.delete(id)
  if not ok then
    notify(('quill: could not delete the chat %s: %s'):format(tostring(id), tostring(why)), vim.log.levels.ERROR)
    return false
  end
  if c then
    convs[id] = nil
    if last_used == c then
      last_used = nil
    end
    if buf_valid(c) then
      view.forget_buffer(c.buf)
      pcall(api.nvim_buf_delete, c.buf, { force = true })
    end
  end
  return true
end

local function ago(t)
  local d = os.time() - (t or 0)
  if d < 60 then
    return 'just now'
  elseif d < 3600 then
    return ('%d min ago'):format(math.floor(d / 60))
  elseif d < 86400 then
    return ('%d h ago'):format(math.floor(d / 3600))
  end
  return os.date('%Y-%m-%d', t)
end

-- :QuillChats: pick a conversation, then open, rename or delete it.
function M.pick()
  local list, skipped = M.list()
  if #skipped > 0 then
    notify(('quill: %d saved chat%s could not be read and %s skipped: %s'):format(#skipped,
      #skipped == 1 and '' or 's', #skipped == 1 and 'is' or 'are', table.concat(skipped, '; ')))
  end
  if #list == 0 then
    notify('quill: no chats yet; :QuillChat starts one', vim.log.levels.INFO)
    return
  end
  vim.ui.select(list, {
    prompt = 'quill chats',
    format_item = function(e)
      local parts = { e.title, tostring(e.model), ago(e.updated) }
      if e.busy then
        table.insert(parts, 'streaming')
      end
      if e.last_answer ~= '' then
        table.insert(parts, e.last_answer)
      end
      return table.concat(parts, ' · ')
    end,
  }, function(choice)
    if not choice then
      return
    end
    vim.schedule(function()
      vim.ui.select({ 'open', 'rename', 'delete' }, { prompt = choice.title }, function(action)
        vim.schedule(function()
          if action == 'open' then
            M.open_chat(choice.id)
          elseif action == 'rename' then
            vim.ui.input({ prompt = 'title: ', default = choice.title }, function(title)
              if title then
                M.rename(choice.id, title)
              end
            end)
          elseif action == 'delete' then
            vim.ui.select({ 'no', 'yes' }, { prompt = ('delete "%s"?'):format(choice.title) }, function(sure)
              if sure == 'yes' and M.delete(choice.id) then
                vim.notify('quill: deleted "' .. choice.title .. '"', vim.log.levels.INFO)
              end
            end)
          end
        end)
      end)
    end)
  end)
end

-- At exit every conversation is on disk (waiting for the disk this once): a prompt whose answer
-- is still streaming is kept, the answer so far is not.
function M.save_all_now()
  for _, c in pairs(convs) do
    if #c.history > 0 then
      store.save_now(c)
    end
  end
end

api.nvim_create_autocmd('VimLeavePre', {
  group = api.nvim_create_augroup('quill_chats', { clear = true }),
  desc = 'quill: save every chat',
  callback = function()
    M.save_all_now()
  end,
})

-- The current conversation (one is made when there is none); for tests and statuslines.
function M.state()
  return current_or_new()
end

function M.history()
  return current_or_new().history
end

return M

