-- A chat turn: the question sent, the answer streamed into the conversation's buffer (text,
-- thinking, tool call blocks, notices, the spinner), and its end (outcome, marks, stats, the
-- conversation saved). See chat.lua for the conversations, chat_view.lua for the buffer.
local config = require('quill.config')
local context = require('quill.context')
local conversation = require('quill.conversation')
local fences = require('quill.fences')
local store = require('quill.chat_store')
local stream = require('quill.stream')
local view = require('quill.chat_view')
local writer = require('quill.writer')

local M = {}

local uv = vim.uv or vim.loop
local api = vim.api
local ns = stream.ns

local buf_valid, chat_win, hl_line = view.buf_valid, view.chat_win, view.hl_line
local mark_you, you_row, remember_shown = view.mark_you, view.you_row, view.remember_shown
local call_label = view.call_label

-- Streaming ------------------------------------------------------------------

-- Follow-scroll. A cursor move fires CursorMoved (matchparen and friends) and
-- makes Neovim recompute the view, so the chat window moves only when the end
-- of the answer would leave it, at most once per rendered frame (stream.lua
-- paces the sink). Neovim also fires CursorMoved for every change of the
-- cursor's line, so the cursor never sits on the line the text goes into: it
-- waits at the start of the line above, and `zb` on the last line puts the end
-- at the bottom of the window. It moves once per new line, not per frame. The
-- window follows while its cursor is where we last put it or on the answer's
-- last line; a user who moved elsewhere is left alone until they come back.

-- Whether `win` follows session `s` whose answer ends on `row` (0-based).
local function following(s, win, row)
  local cursor = api.nvim_win_get_cursor(win)
  local placed = s.cursor_set
  return cursor[1] == row + 1 or (placed ~= nil and cursor[1] == placed[1] and cursor[2] == placed[2])
end

-- Whether line `row` (0-based) is shown whole in `win`.
local function shown_whole(win, row)
  return row + 1 <= vim.fn.line('w$', win) and row + 1 >= vim.fn.line('w0', win)
end

local function follow(s)
  local win = chat_win(s.conv)
  if not win then
    return
  end
  local row = s.writer:position()
  if following(s, win, row) and not shown_whole(win, row) then
    local target = { math.max(row, 1), 0 } -- the line above the last, 1-based
    api.nvim_win_call(win, function()
      -- The cursor visits the last line only inside this call: CursorMoved compares where it
      -- is when Neovim next waits for a key.
      api.nvim_win_set_cursor(win, { row + 1, 0 })
      vim.cmd('normal! zb')
      api.nvim_win_set_cursor(win, target)
    end)
    s.cursor_set = target
  end
end

-- One rendered frame: one set_text, and a follow when the end left the window.
local end_thinking -- with the thinking blocks below

-- Fences whose opening line is complete get their language's highlighting (fences.lua): looked
-- for only after a backtick or tilde came, in the lines written since the last look.
local function check_fences(s)
  local row = s.writer:position()
  if row > s.fence_row then
    fences.highlight(s.writer.buf, api.nvim_buf_get_lines(s.writer.buf, s.fence_row, row, false))
    s.fence_row = row
  end
end

local function sink(s, text)
  end_thinking(s)
  if s.detached or not s.writer:write(text) then
    return
  end
  s.after_block = false
  if text:find('[`~]') then -- (a fence's marker may come in pieces)
    s.fence_due = true
  end
  if s.fence_due and text:find('\n', 1, true) then
    s.fence_due = false
    check_fences(s)
  end
  follow(s)
end

-- Write `text` as a paragraph of its own at the end of the answer, highlighted
-- with `group`; the writer (and so the streamed text) continues below it.
-- Returns the extmark on the line.
local function write_block(s, text, group)
  local w = s.writer
  if s.detached or not w:valid() then
    return nil
  end
  local row, col = w:position()
  local start_row = w:range()
  if col > 0 then
    w:write('\n\n')
  elseif row > start_row and (api.nvim_buf_get_lines(w.buf, row - 1, row, false)[1] or '') ~= '' then
    w:write('\n')
  end
  row = w:position()
  w:write(text .. '\n\n')
  local mark = api.nvim_buf_set_extmark(w.buf, ns, row, 0, { end_row = row, end_col = #text, hl_group = group })
  s.after_block = true
  follow(s)
  return mark
end

-- Rewrite the block line of extmark `mark` to `text`.
local function update_block(s, mark, text, group)
  local buf = s.writer.buf
  if s.detached or not api.nvim_buf_is_valid(buf) then
    return
  end
  local row = api.nvim_buf_get_extmark_by_id(buf, ns, mark, {})[1]
  if not row then
    return
  end
  local old = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
  api.nvim_buf_set_text(buf, row, 0, row, #old, { text })
  api.nvim_buf_set_extmark(buf, ns, row, 0, { id = mark, end_row = row, end_col = #text, hl_group = group })
end

-- Context -------------------------------------------------------------------
-- Ollama cuts the start of a conversation that outgrows the model's context, without a word: a
-- turn whose prompt took 90% of the running context length (/api/ps, else options.num_ctx) says
-- so above the next `## You`, once per conversation.

local CONTEXT_SHARE = 0.9

local function context_note(s, used, size)
  local text = ('[context: this conversation fills %d%% of the model\'s %d tokens; Ollama drops its '
    .. 'start without saying so: :QuillNew starts afresh, or raise options.num_ctx]'):format(
      math.floor(used * 100 / size), size)
  local c = s.conv
  if c.notices.context or c.turn or not api.nvim_buf_is_valid(s.writer.buf) then
    return
  end
  c.notices.context = true
  local buf = s.writer.buf
  local you = you_row(c, buf)
  if not you then
    return
  end
  api.nvim_buf_set_lines(buf, you, you, false, { text, '' })
  hl_line(buf, you, 'QuillCancelled')
  remember_shown(c, buf)
end

local function context_check(s, o)
  local stats = o.status == 'done' and type(o.stats) == 'table' and o.stats or nil
  local used = stats and tonumber(stats.promptEvalCount)
  local endpoint = config.endpoint(s.endpoint)
  if not used or used <= 0 or not endpoint or endpoint.kind ~= 'ollama' or s.conv.notices.context then
    return
  end
  local function judge(size)
    size = tonumber(size)
    if size and size > 0 and used >= CONTEXT_SHARE * size then
      context_note(s, used, size)
    end
  end
  local num_ctx = type(config.get().options) == 'table' and tonumber(config.get().options.num_ctx) or nil
  -- no context is smaller than 2048 tokens (or the configured num_ctx): below that, no question
  if used < CONTEXT_SHARE * math.min(num_ctx or 2048, 2048) then
    return
  end
  require('quill.backend').request('models/running', { endpoint = endpoint.name }, function(err, result)
    local size = nil
    for _, m in ipairs(not err and type(result) == 'table' and type(result.models) == 'table' and result.models or {}) do
      if type(m) == 'table' and require('quill.commands').same_model(m.name, s.model) then
        size = m.contextLength
      end
    end
    judge(size or num_ctx)
  end)
end

-- Thinking ------------------------------------------------------------------
-- A "Thinking… N s" line while the model thinks (the text itself is not shown while it streams);
-- once the turn ends, the text goes under that line as a `> ` quote in a closed fold.

local function thinking_seconds(t)
  return math.floor(((t.done_ns or uv.hrtime()) - t.start_ns) / 1e9 + 0.5)
end

local function thinking_line(t)
  if t.done_ns then
    return ('Thought for %d s'):format(thinking_seconds(t))
  end
  return ('Thinking… %d s'):format(thinking_seconds(t))
end

-- The current thinking block stops counting (its answer text or a tool call came).
function end_thinking(s)
  local t = s.think
  if t and not t.done_ns then
    t.done_ns = uv.hrtime()
    update_block(s, t.mark, thinking_line(t), 'QuillThinking')
  end
  s.think = nil
end

local function on_thinking(s, text)
  local t = s.think
  if not t then
    t = { start_ns = uv.hrtime(), parts = {} }
    t.mark = write_block(s, thinking_line(t), 'QuillThinking')
    if not t.mark then
      return
    end
    s.think = t
    s.thinks = s.thinks or {}
    table.insert(s.thinks, t)
  end
  table.insert(t.parts, text)
end

local function update_thinking(s)
  local t = s.think
  if t and not s.detached then
    update_block(s, t.mark, thinking_line(t), 'QuillThinking')
  end
end

-- Puts each block's text under its line, quoted, folded closed in the chat window.
local function place_thinking(s, buf, win)
  for i = #(s.thinks or {}), 1, -1 do
    local t = s.thinks[i]
    local row = api.nvim_buf_get_extmark_by_id(buf, ns, t.mark, {})[1]
    local text = vim.trim(table.concat(t.parts)) -- linear: a pattern trim is quadratic on long blanks
    if row and text ~= '' then
      local lines = vim.tbl_map(function(l)
        return l == '' and '>' or ('> ' .. l)
      end, vim.split(text, '\n', { plain = true }))
      api.nvim_buf_set_lines(buf, row + 1, row + 1, false, lines)
      for r = row + 1, row + #lines do
        hl_line(buf, r, 'QuillThinking')
      end
      if win then
        pcall(api.nvim_win_call, win, function()
          vim.wo.foldmethod = 'manual'
          vim.wo.foldenable = true
          vim.cmd(('%d,%dfold'):format(row + 1, row + 1 + #lines))
        end)
      end
    end
  end
  s.thinks = nil
end

-- chat/toolCall: a block on `requested`, completed on the final status.
local function on_tool(s, params)
  end_thinking(s)
  local label = call_label(params.call)
  if params.status == 'requested' then
    s.block = { label = label, mark = write_block(s, label .. ' …', 'QuillTool') }
    return
  end
  local block = s.block
  s.block = nil
  local summary = require('quill.tools').take_summary(s.id)
  local status
  if params.status == 'done' then
    local key = config.get().keymaps.open_file
    if summary and key and summary:find('; unsaved$') then
      summary = summary .. ', ' .. key .. ' opens it'
    end
    status = 'done' .. (summary and (' (' .. summary .. ')') or '')
  elseif params.status == 'rejected' then
    status = 'rejected'
  else
    local msg = tostring(params.message or 'failed'):gsub('%s*\n%s*', ' ')
    if #msg > 200 then
      msg = msg:sub(1, 197) .. '...'
    end
    status = 'failed: ' .. msg
  end
  local group = params.status == 'failed' and 'QuillError' or 'QuillTool'
  -- kept for a rebuild of the buffer: the n-th final status is the n-th call of the turn
  s.blocks = s.blocks or {}
  table.insert(s.blocks, { text = label .. ' — ' .. status, group = group })
  if block and block.mark and block.label == label then
    update_block(s, block.mark, label .. ' — ' .. status, group)
  else
    -- a final status without its `requested` (calls the backend refused early)
    write_block(s, label .. ' — ' .. status, group)
  end
end

local function update_spinner(s)
  if s.detached or not s.writer:valid() then
    return
  end
  s.frame = (s.frame or 0) + 1
  update_thinking(s)
  local row = api.nvim_buf_get_extmark_by_id(s.writer.buf, ns, s.header_mark, {})[1]
  if row then
    api.nvim_buf_set_extmark(s.writer.buf, ns, row, 0, {
      id = s.header_mark,
      virt_text = { { stream.spinner_text(s, s.frame), 'QuillSpinner' } },
      virt_text_pos = 'eol',
    })
  end
end

local function has_assistant(messages)
  for _, m in ipairs(messages) do
    if m.role == 'assistant' then
      return true
    end
  end
  return false
end

-- The line that ends an unfinished answer, and its highlight group.
local function end_mark(o)
  if o.status == 'cancelled' then
    return '[cancelled]', 'QuillCancelled'
  end
  if o.status == 'error' then
    local msg = tostring(o.message):gsub('%s*\n%s*', ' ')
    if o.text ~= '' then
      return '[interrupted: ' .. msg .. ']', 'QuillError'
    end
    return '[error: ' .. msg .. ']', 'QuillError'
  end
  if o.reason == 'length' then
    return '[stopped: length limit reached]', 'QuillCancelled'
  end
  -- limit: the answer or its thinking outgrew chat.max_answer_bytes; tool_limit: tools.max_rounds
  if o.reason == 'limit' or o.reason == 'tool_limit' then
    local note = o.note or (o.reason == 'limit' and 'the answer reached its size limit' or 'too many rounds of tool calls')
    return '[stopped: ' .. note:gsub('%s*\n%s*', ' ') .. ']', 'QuillCancelled'
  end
  -- what the backend did on the way (asked again without tools, …)
  if o.note then
    return '[note: ' .. o.note:gsub('%s*\n%s*', ' ') .. ']', 'QuillTool'
  end
  return nil
end

local function finish(s, o)
  stream.stop_timer(s.timer)
  s.timer = nil
  if s.detached then
    return
  end
  local c = s.conv
  c.turn = nil
  c.updated = os.time()
  c.used_model, c.used_endpoint = s.model, s.endpoint
  conversation.touch(c)
  -- A turn that produced no answer gives its prompt back to edit or resend.
  local give_back = nil
  if o.status ~= 'done' and not has_assistant(o.messages) then
    local last = c.history[#c.history]
    if last and last.role == 'user' then
      table.remove(c.history)
      give_back = (c.extras[last] or {}).prompt or last.content
    end
  end
  vim.list_extend(c.history, o.messages)
  local blocks = s.blocks or {}
  local mark, group = end_mark(o)
  local last_extra = nil -- the turn's end as shown, for a rebuild and a reopened chat
  for i, m in ipairs(o.messages or {}) do
    if type(m) == 'table' then
      local extra = {}
      if type(m.toolCalls) == 'table' and #m.toolCalls > 0 then
        extra.blocks = { unpack(blocks, 1, #m.toolCalls) }
        blocks = { unpack(blocks, #m.toolCalls + 1) }
      end
      if i == #o.messages then
        extra.mark = mark and { text = mark, group = group } or nil
        extra.stats = stream.stats_text(s, o.stats)
        last_extra = extra
      end
      c.extras[m] = next(extra) and extra or nil
    end
  end

  local w = s.writer
  if not w:valid() then
    store.save(c)
    -- the buffer was wiped while the answer streamed: one opened since shows the whole turn now
    if buf_valid(c) and c.buf ~= w.buf then
      view.reset_buffer(c, c.buf)
    end
    return
  end
  end_thinking(s)
  local buf = w.buf
  local win = chat_win(c)
  local row, col = w:position()
  local follows = win ~= nil and following(s, win, row)
  local tail = {}
  if col > 0 then
    table.insert(tail, '\n\n')
  elseif o.text ~= '' and not s.after_block then
    table.insert(tail, '\n')
  end
  if mark then
    table.insert(tail, mark .. '\n\n')
  end
  table.insert(tail, view.YOU .. '\n\n')
  if give_back then
    table.insert(tail, give_back)
  end
  w:write(table.concat(tail))
  -- rows of the mark and of the new `## You` header, counted back from the end
  local give_back_lines = give_back and #writer.split_lines(give_back) or 1
  local you = w.row - give_back_lines - 1
  if mark then
    hl_line(buf, you - 2, group)
  end
  mark_you(c, buf, you)
  local header = api.nvim_buf_get_extmark_by_id(buf, ns, s.header_mark, {})[1]
  if header then
    -- the stats fit beside the header in the chat window (eol text is cut at its edge)
    local room = nil
    if win then
      local line = api.nvim_buf_get_lines(buf, header, header + 1, false)[1] or ''
      room = api.nvim_win_get_width(win) - vim.fn.strdisplaywidth(line) - 2
    end
    local stats = stream.stats_text(s, o.stats, room)
    api.nvim_buf_set_extmark(buf, ns, header, 0, {
      id = s.header_mark,
      virt_text = { { stats, 'QuillStats' } },
      virt_text_pos = 'eol',
    })
    if last_extra then
      last_extra.stats = stats
    end
  end
  store.save(c)
  if s.fence_due then
    check_fences(s)
  end
  w:close()
  if follows then
    api.nvim_win_set_cursor(win, { w.row + 1, w.col })
  end
  place_thinking(s, buf, win)
  remember_shown(c, buf)
  context_check(s, o)
  -- A model Ollama does not have: offer to pull it, and send the prompt (given back above) again.
  local endpoint = config.endpoint(s.endpoint)
  if o.status == 'error' and o.error_kind == 'model_not_found' and endpoint and endpoint.kind == 'ollama' then
    vim.schedule(function()
      require('quill.pull').offer(s.model, function()
        if not c.turn then
          require('quill.chat').send_in(c)
        end
      end)
    end)
  end
  if o.status == 'error' and not win then
    vim.notify('quill: ' .. o.message, vim.log.levels.ERROR)
  end
end

-- Send `prompt` as the next user message of `c`; the buffer's `## You` section at
-- row `you` is rewritten to hold exactly the prompt.
-- `where` says what #buffer and #selection mean: { origin = buf, range, range_buf }.
function M.submit(c, buf, you, prompt_lines, where)
  local prompt = table.concat(prompt_lines, '\n')
  local attached = context.expand(prompt, where)
  local lines = { '' }
  vim.list_extend(lines, prompt_lines)
  table.insert(lines, '')
  local labels_at = you + 3 + #prompt_lines
  if #attached.labels > 0 then
    vim.list_extend(lines, attached.labels)
    table.insert(lines, '')
  end
  vim.list_extend(lines, { view.ASSISTANT, '', '' })
  api.nvim_buf_set_lines(buf, you + 1, -1, false, lines)
  for i = 1, #attached.labels do
    hl_line(buf, labels_at + i - 1, 'QuillTool')
  end
  local header = labels_at + (#attached.labels > 0 and #attached.labels + 1 or 0)
  local answer = header + 2
  hl_line(buf, header, 'QuillHeader')
  local message = { role = 'user', content = attached.content }
  table.insert(c.history, message)
  if #attached.labels > 0 then
    c.extras[message] = { prompt = prompt, attached = attached.labels }
  end
  c.updated = os.time()
  conversation.touch(c)
  store.save(c) -- the prompt is kept even if Neovim dies while the answer streams

  local s = { kind = 'chat', bufnr = buf, conv = c, model = c.model, endpoint = c.endpoint }
  s.header_mark = api.nvim_buf_set_extmark(buf, ns, header, 0, {})
  s.writer = writer.new(buf, answer, 0)
  s.fence_row = answer
  s.sink = function(text)
    sink(s, text)
  end
  s.on_done = function(o)
    finish(s, o)
  end
  s.tools = c.tools -- nil follows tools.enabled; :QuillTools sets it for this chat
  if config.get().chat.show_thinking then
    s.on_thinking = function(text)
      on_thinking(s, text)
    end
  end
  s.on_tool = function(params)
    on_tool(s, params)
  end
  s.on_notice = function(text)
    if c.notices[text] then
      return -- said once per conversation (per model: the text names it)
    end
    c.notices[text] = true
    write_block(s, text, 'QuillTool')
  end
  c.turn = s
  local win = chat_win(c)
  if win then
    -- on the header, not where the text goes in: an insertion at the cursor drags it along
    -- (a CursorMoved for every new line); follow() moves it once the end leaves the window
    api.nvim_win_set_cursor(win, { header + 1, 0 })
    s.cursor_set = { header + 1, 0 }
  end
  stream.start_with_spinner(s, c.history, function()
    update_spinner(s)
  end)
  -- this Neovim's answers of the conversation, for :QuillUndo
  c.answers = c.answers or {}
  table.insert(c.answers, { id = s.id, prompt = conversation.first_line(prompt) })
  return s
end


return M
