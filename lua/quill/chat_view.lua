-- The chat's view: a conversation rendered into its buffer `quill://chat/<id>` (turns, tool
-- blocks, end marks, stats), the chat window, and the buffer's own keys. Knows which buffer shows
-- which conversation; knows nothing of turns or of the list of conversations.
local config = require('quill.config')
local fences = require('quill.fences')
local stream = require('quill.stream')
local writer = require('quill.writer')

local M = {}

local api = vim.api
local ns = stream.ns

M.NAME = 'quill://chat' -- and '/<id>'
M.YOU = '## You'
M.ASSISTANT = '## Assistant'

local by_buf = {} -- buffer -> the conversation it shows

-- The conversation buffer `buf` shows, or nil.
function M.conversation_of(buf)
  return by_buf[buf]
end

function M.forget_buffer(buf)
  by_buf[buf] = nil
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
local function call_label(call)
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
  -- one line whatever the model sent (a line range "1\n2"): a block is a single buffer line
  return (label:gsub('%c', ' '))
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
  local function chat()
    return require('quill.chat')
  end
  map(buf, 'n', keys.send, function()
    chat().send()
  end, 'quill: send the question under ## You')
  map(buf, 'i', keys.send_insert, function()
    vim.cmd('stopinsert')
    chat().send()
  end, 'quill: send the question under ## You')
  map(buf, 'n', keys.cancel, function()
    chat().cancel()
  end, 'quill: stop the answer')
  map(buf, 'i', keys.cancel, function()
    chat().cancel()
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
  return buf, win
end

M.buf_valid = buf_valid
M.chat_win = chat_win
M.hl_line = hl_line
M.mark_you = mark_you
M.you_row = you_row
M.remember_shown = remember_shown
M.earlier_turns_edited = earlier_turns_edited
M.reset_buffer = reset_buffer
M.ensure_buffer = ensure_buffer
M.tab_chat_win = tab_chat_win
M.show = show
M.call_label = call_label

return M
