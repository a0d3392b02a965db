-- The chat split: each conversation (conversation.lua) shown in a markdown buffer
-- `quill://chat/<id>` with one `## You` / `## Assistant` section per turn. The conversation lives
-- here in Lua, saved after every turn (chat_store.lua); the buffer is its view, so neither a
-- backend crash nor a wiped buffer nor a restart loses it. Several conversations stream at once,
-- each into its own buffer.
local config = require('quill.config')
local context = require('quill.context')
local conversation = require('quill.conversation')
local fences = require('quill.fences')
local store = require('quill.chat_store')
local stream = require('quill.stream')
local writer = require('quill.writer')

local M = {}

local uv = vim.uv or vim.loop
local api = vim.api
local ns = stream.ns

M.NAME = 'quill://chat' -- and '/<id>'
M.YOU = '## You'
M.ASSISTANT = '## Assistant'

-- The conversations of this Neovim, id -> Conversation. A conversation's view fields: buf, win
-- (the window last showing it), you_mark (extmark on the last `## You` header), shown (the lines
-- above the last `## You` as quill left them, see earlier_turns_edited).
local convs = {}
local by_buf = {} -- buffer -> the conversation it shows
local last_used = nil -- the conversation used last

local activity = 0 -- orders conversations used within the same second

local function touch(c)
  last_used = c
  activity = activity + 1
  c.activity = activity
end

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.WARN)
end

local function buf_valid(c)
  return c.buf and api.nvim_buf_is_valid(c.buf)
end

-- The window showing conversation `c`: the one it was opened in if it still shows it, else one
-- in the current tab that does.
local function chat_win(c)
  local win = c.win
  if win and api.nvim_win_is_valid(win) and api.nvim_win_get_buf(win) == c.buf then
    return win
  end
  if buf_valid(c) then
    for _, w in ipairs(api.nvim_tabpage_list_wins(0)) do
      if api.nvim_win_get_buf(w) == c.buf then
        c.win = w
        return w
      end
    end
  end
  return nil
end

-- Highlight a whole line with `group` (as an extmark, so it moves with the text).
local function hl_line(buf, row, group)
  local line = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
  return api.nvim_buf_set_extmark(buf, ns, row, 0, { end_row = row, end_col = #line, hl_group = group })
end

local function mark_you(c, buf, row)
  hl_line(buf, row, 'QuillHeader')
  if c.you_mark then
    pcall(api.nvim_buf_del_extmark, buf, ns, c.you_mark)
  end
  c.you_mark = api.nvim_buf_set_extmark(buf, ns, row, 0, {})
end

-- Row of the last `## You` header: the tracked one if it is still a header,
-- else the last such line found scanning backwards.
local function you_row(c, buf)
  if c.you_mark then
    local pos = api.nvim_buf_get_extmark_by_id(buf, ns, c.you_mark, {})
    if pos[1] then
      local line = api.nvim_buf_get_lines(buf, pos[1], pos[1] + 1, false)[1]
      if line and vim.trim(line) == M.YOU then
        return pos[1]
      end
    end
  end
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  for i = #lines, 1, -1 do
    if vim.trim(lines[i]) == M.YOU then
      return i - 1
    end
  end
  return nil
end

-- The conversation `history` (a buffer wiped by the user is rebuilt from it),
-- then an empty `## You` section: its header, a blank line, the line to type on.
-- Remember the lines above the last `## You` as quill left them: a send checks that the user did
-- not change them (the model would not know).
local function remember_shown(c, buf)
  local you = you_row(c, buf)
  c.shown = you and { buf = buf, lines = api.nvim_buf_get_lines(buf, 0, you, false) } or nil
end

local function earlier_turns_edited(c, buf, you)
  local shown = c.shown
  if not shown or shown.buf ~= buf then
    return false
  end
  local now = api.nvim_buf_get_lines(buf, 0, you, false)
  if #now ~= #shown.lines then
    return true
  end
  for i = 1, #now do
    if now[i] ~= shown.lines[i] then
      return true
    end
  end
  return false
end

-- Replace the whole buffer, with no undo step back to what it held (`u` must not bring back a
-- conversation that is gone).
local function set_all_lines(buf, lines)
  local levels = vim.bo[buf].undolevels
  vim.bo[buf].undolevels = -1
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].undolevels = levels
end

local call_label

-- A dimmed hint on an empty conversation's prompt line: how to send. Gone at the first change.
local hint_ns = api.nvim_create_namespace('quill_chat_hint')

local function show_hint(buf, row)
  local keys = config.get().keymaps
  local parts = {}
  if keys.send then
    table.insert(parts, keys.send .. ' sends' .. (keys.send_insert and (' (' .. keys.send_insert .. ' in Insert)') or ''))
  elseif keys.send_insert then
    table.insert(parts, keys.send_insert .. ' in Insert sends')
  end
  if keys.help then
    table.insert(parts, keys.help .. ' keys')
  end
  local text = 'ask here' .. (#parts > 0 and (' · ' .. table.concat(parts, ' · ')) or '')
  api.nvim_buf_clear_namespace(buf, hint_ns, 0, -1)
  api.nvim_buf_set_extmark(buf, hint_ns, row, 0, { virt_text = { { text, 'Comment' } }, virt_text_pos = 'eol' })
  local tick = api.nvim_buf_get_changedtick(buf) -- (TextChanged also reports the change that made the buffer)
  local id
  id = api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI' }, {
    buffer = buf,
    callback = function()
      if not api.nvim_buf_is_valid(buf) or api.nvim_buf_get_changedtick(buf) ~= tick then
        pcall(api.nvim_buf_clear_namespace, buf, hint_ns, 0, -1)
        pcall(api.nvim_del_autocmd, id)
      end
    end,
  })
end

-- Renders conversation `c` whole into `buf`: its turns with their tool blocks, end marks and
-- stats as they were shown, then an empty `## You` section.
local function reset_buffer(c, buf)
  api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  api.nvim_buf_clear_namespace(buf, writer.ns, 0, -1)
  c.you_mark = nil
  local lines, headers, marked, stats = {}, {}, {}, {}
  local answering = nil -- the row of the `## Assistant` header that stands for the turn's answer
  for _, m in ipairs(c.history) do
    local extra = c.extras[m] or {}
    if m.role == 'user' then
      answering = nil
      table.insert(headers, #lines)
      vim.list_extend(lines, { M.YOU, '' })
      -- a question with attachments shows as typed, with a line per attachment
      vim.list_extend(lines, writer.split_lines(extra.prompt or m.content))
      table.insert(lines, '')
      if extra.attached then
        for _, label in ipairs(extra.attached) do
          table.insert(marked, { row = #lines, group = 'QuillTool' })
          table.insert(lines, label)
        end
        table.insert(lines, '')
      end
    elseif m.role == 'assistant' then
      local calls = type(m.toolCalls) == 'table' and m.toolCalls or {}
      if not answering and (m.content ~= '' or #calls > 0 or extra.mark or extra.stats) then
        answering = #lines
        table.insert(headers, #lines)
        vim.list_extend(lines, { M.ASSISTANT, '' })
      end
      if m.content ~= '' then
        vim.list_extend(lines, writer.split_lines(m.content))
        table.insert(lines, '')
      end
      local done = extra.blocks or {}
      for i, call in ipairs(calls) do
        local block = done[i] or { text = call_label(call), group = 'QuillTool' }
        table.insert(marked, { row = #lines, group = block.group })
        vim.list_extend(lines, { block.text, '' })
      end
    end
    if extra.mark then
      table.insert(marked, { row = #lines, group = extra.mark.group })
      vim.list_extend(lines, { extra.mark.text, '' })
    end
    if extra.stats and answering then
      table.insert(stats, { row = answering, text = extra.stats })
    end
  end
  local you = #lines
  vim.list_extend(lines, { M.YOU, '', '' })
  set_all_lines(buf, lines)
  for _, row in ipairs(headers) do
    hl_line(buf, row, 'QuillHeader')
  end
  for _, b in ipairs(marked) do
    hl_line(buf, b.row, b.group)
  end
  for _, st in ipairs(stats) do
    api.nvim_buf_set_extmark(buf, ns, st.row, 0, { virt_text = { { st.text, 'QuillStats' } }, virt_text_pos = 'eol' })
  end
  mark_you(c, buf, you)
  fences.highlight(buf, lines)
  remember_shown(c, buf)
  if #lines == 3 then
    show_hint(buf, 2)
  end
end

local function map(buf, mode, lhs, fn, desc)
  if lhs then
    api.nvim_buf_set_keymap(buf, mode, lhs, '', { callback = fn, noremap = true, silent = true, desc = desc })
  end
end

local function set_keymaps(buf)
  local keys = config.get().keymaps
  map(buf, 'n', keys.send, function()
    M.send()
  end, 'quill: send the question under ## You')
  map(buf, 'i', keys.send_insert, function()
    vim.cmd('stopinsert')
    M.send()
  end, 'quill: send the question under ## You')
  map(buf, 'n', keys.cancel, function()
    M.cancel()
  end, 'quill: stop the answer')
  map(buf, 'i', keys.cancel, function()
    M.cancel()
    vim.cmd('stopinsert')
  end, 'quill: stop the answer')
  map(buf, 'n', keys.close, function()
    M.close()
  end, 'quill: close the chat window')
  map(buf, 'n', keys.help, function()
    M.show_keys(buf)
  end, "quill: list the chat's keys")
  map(buf, 'n', keys.next_turn, function()
    M.jump_turn(1, vim.v.count1)
  end, 'quill: the next ## You / ## Assistant')
  map(buf, 'n', keys.prev_turn, function()
    M.jump_turn(-1, vim.v.count1)
  end, 'quill: the previous ## You / ## Assistant')
  map(buf, 'n', keys.yank_code, function()
    M.yank_code(vim.v.register)
  end, 'quill: yank the code block under the cursor')
  map(buf, 'n', keys.open_file, function()
    M.open_block_file()
  end, 'quill: open the file of the tool call under the cursor (else gf)')
end

-- The path of the tool call block on `line` ("> `edit_file` `src/a.c` — done"), or nil.
function M.block_path(line)
  local fence, rest = line:match('^> `[^`]+` (`+)(.*)$')
  if not fence then
    return nil
  end
  local close = rest:find(fence, 1, true)
  if not close then
    return nil
  end
  local path = rest:sub(1, close - 1)
  if #fence > 1 or path:find('^ .* $') then
    path = path:gsub('^ ', ''):gsub(' $', '')
  end
  return path ~= '' and path or nil
end

-- gf in the chat: on a tool call block, open its file (the edited buffer, unsaved changes and
-- all) in the window the chat came from; elsewhere Neovim's own gf.
function M.open_block_file()
  local line = api.nvim_get_current_line()
  local path = line:find('^> `') and M.block_path(line)
  if not path then
    local ok, err = pcall(vim.cmd, 'normal! gf')
    if not ok then
      notify('quill: ' .. tostring(err):gsub('^Vim%(normal%):', ''))
    end
    return false
  end
  local real, why = require('quill.tools').resolve(path)
  if not real then
    notify(('quill: cannot open %s: %s'):format(path, type(why) == 'table' and tostring(why.message) or tostring(why)))
    return false
  end
  local buf = vim.fn.bufadd(real)
  vim.bo[buf].buflisted = true
  local chat = api.nvim_get_current_win()
  vim.cmd('wincmd p')
  if api.nvim_get_current_win() == chat then
    vim.cmd(vim.o.splitright and 'leftabove vsplit' or 'vsplit')
  end
  api.nvim_win_set_buf(0, buf)
  return true
end

-- ]] / [[: to the `count`-th turn header after (dir 1) or before (-1) the cursor line.
function M.jump_turn(dir, count)
  local buf = api.nvim_get_current_buf()
  local row = api.nvim_win_get_cursor(0)[1]
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  local target
  local i = row + dir
  while i >= 1 and i <= #lines and count > 0 do
    if lines[i] == M.YOU or lines[i]:find('^## Assistant') then
      target, count = i, count - 1
    end
    i = i + dir
  end
  if target then
    vim.cmd("normal! m'") -- `` and <C-o> come back
    api.nvim_win_set_cursor(0, { target, 0 })
  end
  return target
end

-- The fenced code block around the cursor line: its lines without the fences, or nil.
function M.code_block_at(buf, row)
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  local open_row, fence
  for i = 1, #lines do
    local marker = lines[i]:match('^%s*(```+)') or lines[i]:match('^%s*(~~~+)')
    if not open_row and marker then
      open_row, fence = i, marker
    elseif open_row and marker and lines[i]:match('^%s*' .. vim.pesc(fence) .. '[`~]*%s*$') then
      if row >= open_row and row <= i then
        return { unpack(lines, open_row + 1, i - 1) }
      end
      open_row = nil
    end
    if open_row == nil and i >= row then
      return nil
    end
  end
  return nil
end

-- gy: yank the code block under the cursor into `register` (linewise).
function M.yank_code(register)
  local buf = api.nvim_get_current_buf()
  local block = M.code_block_at(buf, api.nvim_win_get_cursor(0)[1])
  if not block then
    notify('quill: the cursor is not in a fenced code block')
    return false
  end
  register = (register == nil or register == '') and '"' or register
  vim.fn.setreg(register, block, 'l')
  if register == '"' then
    vim.fn.setreg('0', block, 'l') -- like a yank
  end
  vim.api.nvim_echo({ { ('quill: yanked %d line%s of code'):format(#block, #block == 1 and '' or 's') } }, false, {})
  return true
end

-- The chat's own keys, "KEY  what it does" a line each (Normal mode first).
function M.keys_text(buf)
  local lines = {}
  for _, mode in ipairs({ 'n', 'i' }) do
    for _, m in ipairs(api.nvim_buf_get_keymap(buf, mode)) do
      if type(m.desc) == 'string' and m.desc:find('^quill: ') then
        table.insert(lines, ('%s %-8s %s'):format(mode == 'i' and 'insert' or 'normal', m.lhs, m.desc:sub(8)))
      end
    end
  end
  return table.concat(lines, '\n')
end

function M.show_keys(buf)
  vim.notify('quill chat keys:\n' .. M.keys_text(buf), vim.log.levels.INFO)
end

-- Closes the chat window (the answer keeps streaming into the buffer); the last window of the
-- tab stays, with a word why.
function M.close()
  local win = api.nvim_get_current_win()
  if #api.nvim_tabpage_list_wins(0) == 1 then
    vim.notify('quill: the chat is the only window here; :QuillChat brings it back after :bprevious', vim.log.levels.INFO)
    return
  end
  api.nvim_win_close(win, false)
end

-- Markdown ftplugins and treesitter still apply (filetype=markdown), but the regex highlighting
-- is syntax/quillchat.vim: Neovim's markdown syntax includes all of HTML's and re-scans 50
-- lines per change, which a streaming buffer pays on every redraw (see the README's figures).
local function use_light_syntax(buf)
  local ts = vim.treesitter and vim.treesitter.highlighter
  if ts and ts.active and ts.active[buf] then
    return -- the user's treesitter highlighting
  end
  if config.get().chat.syntax == 'markdown' then
    return
  end
  vim.bo[buf].syntax = 'quillchat'
  fences.forget(buf)
end

local function find_named_buffer(name)
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_valid(b) and api.nvim_buf_get_name(b) == name then
      return b
    end
  end
end

local function create_buffer(c)
  local name = M.NAME .. '/' .. c.id
  local old = find_named_buffer(name)
  if old then
    api.nvim_buf_delete(old, { force = true })
  end
  local buf = api.nvim_create_buf(false, true) -- unlisted scratch: buftype=nofile, no swap
  api.nvim_buf_set_name(buf, name)
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'markdown'
  use_light_syntax(buf)
  set_keymaps(buf)
  -- <C-x><C-o> completes #buffer, #selection, #diagnostics, #file:
  vim.bo[buf].omnifunc = "v:lua.require'quill.context'.omnifunc"
  by_buf[buf] = c
  api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    callback = function()
      by_buf[buf] = nil
    end,
  })
  reset_buffer(c, buf)
  return buf
end

-- The buffer of conversation `c`, created (and rendered from its history) when it has none.
local function ensure_buffer(c)
  stream.define_highlights()
  if not buf_valid(c) then
    c.you_mark = nil
    c.win = nil
    c.buf = create_buffer(c)
  end
  return c.buf
end

-- The split's width (left/right) or height (top/bottom): `size` below 1 is a fraction of the
-- screen; at least a readable minimum, and never so much that the other windows are squeezed.
function M.split_size(size, vertical)
  local total = vertical and vim.o.columns or (vim.o.lines - vim.o.cmdheight - 1)
  local min, keep = 30, 40 -- the chat's minimum, what the other windows keep
  if not vertical then
    min, keep = 8, 8
  end
  local want = size < 1 and math.floor(total * size) or size
  want = math.min(math.max(want, min), total - keep)
  return math.max(want, 1)
end

local function open_split(buf)
  local cfg = config.get().chat
  local cmds = {
    right = 'botright %dvsplit',
    left = 'topleft %dvsplit',
    top = 'topleft %dsplit',
    bottom = 'botright %dsplit',
  }
  local vertical = cfg.position == 'left' or cfg.position == 'right'
  vim.cmd(cmds[cfg.position]:format(M.split_size(cfg.size, vertical)))
  local win = api.nvim_get_current_win()
  api.nvim_win_set_buf(win, buf)
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  if cfg.position == 'left' or cfg.position == 'right' then
    vim.wo[win].winfixwidth = true
  else
    vim.wo[win].winfixheight = true
  end
  local last = api.nvim_buf_line_count(buf)
  api.nvim_win_set_cursor(win, { last, 0 })
  return win
end

-- A window of the current tab showing any conversation: the chat window.
local function tab_chat_win()
  for _, w in ipairs(api.nvim_tabpage_list_wins(0)) do
    if by_buf[api.nvim_win_get_buf(w)] then
      return w
    end
  end
  return nil
end

-- Show conversation `c` and focus it: in its window of this tab, else in this tab's chat window
-- (which then shows `c` instead of another conversation), else in a new split. Returns buf, win.
local function show(c)
  local buf = ensure_buffer(c)
  local win = chat_win(c)
  if win and api.nvim_win_get_tabpage(win) ~= api.nvim_get_current_tabpage() then
    win = nil -- shown in another tab: open it here rather than jump there
  end
  win = win or tab_chat_win()
  if win then
    api.nvim_set_current_win(win)
    if api.nvim_win_get_buf(win) ~= buf then
      api.nvim_win_set_buf(win, buf)
      api.nvim_win_set_cursor(win, { api.nvim_buf_line_count(buf), 0 })
    end
  else
    win = open_split(buf)
  end
  c.win = win
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
  local c = by_buf[api.nvim_get_current_buf()]
  if c then
    return c
  end
  local win = tab_chat_win()
  if win then
    return by_buf[api.nvim_win_get_buf(win)]
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

-- Tool call blocks ------------------------------------------------------------

-- `text` as a markdown code span, so that no markdown highlighter or renderer reads the model's
-- names and globs as markup (`read_file`'s `_`, a `**/*.lua` turning the answer bold): the
-- backtick fence is longer than any run of backticks inside.
local function code_span(text)
  text = tostring(text):gsub('%s*\n%s*', ' ')
  if #text > 100 then
    text = text:sub(1, 97) .. '...'
  end
  local longest = 0
  for run in text:gmatch('`+') do
    longest = math.max(longest, #run)
  end
  local fence = string.rep('`', longest + 1)
  -- CommonMark takes one space off each end of a span that starts and ends with one
  local spaced = text:find('^ ') and text:find(' $') and text:find('%S')
  local pad = (text:find('^`') or text:find('`$') or spaced) and ' ' or ''
  return fence .. pad .. text .. pad .. fence
end

-- "> `read_file` `src/main.cpp`": the call in one line.
call_label = function(call)
  local name = tostring(call.name)
  local args = type(call.arguments) == 'table' and call.arguments or {}
  local what
  if name == 'read_file' then
    what = code_span(args.path)
    if args.start_line or args.end_line then
      what = what .. (' lines %s-%s'):format(tostring(args.start_line or 1), tostring(args.end_line or '$'))
    end
  elseif name == 'list_files' then
    what = args.pattern and code_span(args.pattern) or '(all files)'
  elseif name == 'edit_file' or name == 'create_file' then
    what = code_span(args.path)
  elseif next(args) then
    local ok, json = pcall(vim.json.encode, args)
    what = ok and code_span(json) or nil
  end
  local label = '> ' .. code_span(name)
  if what ~= nil then
    label = label .. ' ' .. what
  end
  return label
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
  c.activity = (function()
    activity = activity + 1
    return activity
  end)()
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
      reset_buffer(c, c.buf)
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
  table.insert(tail, M.YOU .. '\n\n')
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
          M.send_in(c)
        end
      end)
    end)
  end
  if o.status == 'error' and not win then
    notify('quill: ' .. o.message, vim.log.levels.ERROR)
  end
end

-- Send `prompt` as the next user message of `c`; the buffer's `## You` section at
-- row `you` is rewritten to hold exactly the prompt.
-- `where` says what #buffer and #selection mean: { origin = buf, range, range_buf }.
local function submit(c, buf, you, prompt_lines, where)
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
  vim.list_extend(lines, { M.ASSISTANT, '', '' })
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
  touch(c)
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
  if not earlier_turns_edited(c, buf, you) then
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
  return submit(c, buf, you, prompt, { origin = context.origin() })
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
  submit(c, buf, you, writer.split_lines(prompt), where)
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
      model = c.model or config.get().model,
      endpoint = c.endpoint or (config.endpoint() or {}).name,
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
      by_buf[c.buf] = nil
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
