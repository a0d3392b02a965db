-- The review window: asks the user to accept or reject a change the model
-- proposes (an edit, a new file) or a read of a file that may hold secrets. One
-- prompt is on screen at a time; the others wait in order.
--
-- The window never takes focus by itself (keys the user is typing must not
-- answer it): it opens in a corner with a notice, :QuillReview enters it, and
-- keys pressed within M.grace_ms of entering are ignored. What will be written
-- is shown as it is: wrapped, whitespace visible, invisible and bidirectional
-- characters spelled out and flagged, lines wider than the window flagged.
local config = require('quill.config')
local interrupt = require('quill.interrupt')
local utf8 = require('quill.utf8')

local M = {}

local api = vim.api
local uv = vim.uv or vim.loop

-- Keys pressed this soon (ms) after the window gets focus do nothing.
M.grace_ms = 300

local MAX_WARNINGS = 8 -- flagged lines listed in the header; the rest are counted

-- Preview lines shown (and sanitized, measured); the rest are counted, not shown.
M.max_lines = 2000

local ns = api.nvim_create_namespace('quill_review')

local accept_all = {} -- chatId -> true once the user chose "accept all"
local prompts = {} -- confirmations waiting to be shown, the first one is on screen

local show_next

local function now_ms()
  return uv.hrtime() / 1e6
end

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO)
end

-- Characters that would hide or disguise what is written: each is shown as
-- <U+XXXX> and flagged. Patterns match whole UTF-8 sequences (lead bytes
-- never occur inside another character); invalid bytes are handled first.
local FLAGGED = {
  { '[%z\1-\8\10-\31\127]', 'control char' }, -- C0 except tab, and DEL
  { '\194[\128-\159]', 'control char' }, -- C1
  { '\216\156', 'bidi' }, -- U+061C
  { '\226\128[\142\143\170-\174]', 'bidi' }, -- U+200E, U+200F, U+202A-U+202E
  { '\226\129[\166-\169]', 'bidi' }, -- U+2066-U+2069
  { '\226\128[\168\169]', 'line separator' }, -- U+2028, U+2029
  { '\226\128[\139-\141]', 'zero-width' }, -- U+200B-U+200D
  { '\226\129[\160-\164]', 'zero-width' }, -- U+2060, invisible operators U+2061-U+2064
  { '\239\187\191', 'zero-width' }, -- U+FEFF
  { '\194\173', 'invisible' }, -- U+00AD soft hyphen
  { '\205\143', 'invisible' }, -- U+034F combining grapheme joiner
  { '\225\160\142', 'invisible' }, -- U+180E Mongolian vowel separator
  { '\225\133[\159\160]', 'invisible' }, -- U+115F, U+1160 Hangul fillers
  { '\227\133\164', 'invisible' }, -- U+3164 Hangul filler
  { '\239\190\160', 'invisible' }, -- U+FFA0 halfwidth Hangul filler
  { '\239\184[\128-\143]', 'variation selector' }, -- U+FE00-U+FE0F
  { '\243\160\132[\128-\191]', 'variation selector' }, -- U+E0100-U+E013F
  { '\243\160[\133-\135][\128-\191]', 'variation selector' }, -- U+E0140-U+E01FF
  { '\243\160[\128\129][\128-\191]', 'tag' }, -- U+E0000-U+E007F (invisible ASCII)
}
local ANY_FLAGGED = '[%z\1-\8\10-\31\127\194\205\216\225\226\227\239\243]' -- cheap pre-check
local MARK = '<[Ux]%+?%x+>' -- how a flagged character or byte is shown

local function codepoint(bytes)
  local b1, b2, b3, b4 = bytes:byte(1, 4)
  if #bytes == 1 then
    return b1
  elseif #bytes == 2 then
    return (b1 % 32) * 64 + b2 % 64
  elseif #bytes == 3 then
    return (b1 % 16) * 4096 + (b2 % 64) * 64 + b3 % 64
  end
  return (b1 % 8) * 262144 + (b2 % 64) * 4096 + (b3 % 64) * 64 + b4 % 64
end

-- `s` made safe to display, and the list of what was flagged in it
-- ({ 'bidi U+202E', ... }, each kind and character once).
local function sanitize(s)
  s = tostring(s)
  local flags, seen = {}, {}
  local function flag(f)
    if not seen[f] then
      seen[f] = true
      table.insert(flags, f)
    end
  end
  -- bytes that are no UTF-8 first (the patterns below assume whole sequences)
  local bad = utf8.first_invalid(s)
  if bad then
    local parts, last = {}, 1
    while bad do
      local name = ('x%02X'):format(s:byte(bad))
      flag('invalid UTF-8 ' .. name)
      table.insert(parts, s:sub(last, bad - 1))
      table.insert(parts, '<' .. name .. '>')
      last = bad + 1
      bad = utf8.first_invalid(s, last)
    end
    table.insert(parts, s:sub(last))
    s = table.concat(parts)
  end
  if not s:find(ANY_FLAGGED) then
    return s, flags
  end
  for _, f in ipairs(FLAGGED) do
    s = s:gsub(f[1], function(c)
      local name = ('U+%04X'):format(codepoint(c))
      flag(f[2] .. ' ' .. name)
      return '<' .. name .. '>'
    end)
  end
  return s, flags
end
M._sanitize = sanitize

local function prompt_width()
  return math.max(40, math.min(vim.o.columns - 4, 100))
end

-- The buffer text of prompt `p`: header (title, help, warnings), a blank
-- line, the preview. Returns the lines, the flags of each flagged line
-- ({ [0-based row] = { 'bidi U+202E', ... } }) and the header's line count.
local function build(p, width)
  local title = sanitize(p.title)
  local help
  if p.secret then
    help = {
      'a read of a file that may hold secrets: a share it with the model · r refuse',
      '<Esc> leave (the question stays) · <C-c> cancel the turn · accept-all never covers this',
    }
  elseif p.all_asked then
    help = { 'press A again to accept this and every later edit of this answer · a accept only this · r reject' }
  else
    help = {
      'a accept · r reject · A accept this and every later edit of this answer',
      '<Esc> or q leave (the question stays, :QuillReview returns) · <C-c> cancel the turn',
    }
  end
  local body, marks, warnings = {}, {}, {}
  for i = 1, math.min(#p.lines, M.max_lines) do
    local shown, flags = sanitize(p.lines[i])
    local w = vim.fn.strdisplaywidth(shown)
    if w > width then
      table.insert(flags, ('line wider than window: %d columns'):format(w))
    end
    body[i] = shown
    if #flags > 0 then
      marks[i] = flags
      table.insert(warnings, i)
    end
  end
  local lines = { title }
  vim.list_extend(lines, help)
  for n, i in ipairs(warnings) do
    if n > MAX_WARNINGS then
      table.insert(lines, ('⚠ … and %d more flagged lines'):format(#warnings - MAX_WARNINGS))
      break
    end
    table.insert(lines, ('⚠ %s %d: %s'):format(p.secret and 'line' or 'diff line', i, table.concat(marks[i], ', ')))
  end
  table.insert(lines, '')
  local offset = #lines
  local rows = {}
  for i, flags in pairs(marks) do
    rows[offset + i - 1] = flags
  end
  vim.list_extend(lines, body)
  local more = math.max(0, #p.lines - M.max_lines) + p.more_lines
  if more > 0 then
    table.insert(lines, ('… %d more lines not shown — the whole text will be written'):format(more))
    rows[#lines - 1] = { 'not shown' }
  end
  return lines, rows, offset
end

local function highlights()
  vim.cmd('highlight default link QuillReviewWarning WarningMsg')
  vim.cmd('highlight default link QuillReviewHelp Comment')
end

-- (Re)write the text of p.buf.
local function render(p)
  local buf = p.buf
  local lines, rows, offset = build(p, prompt_width())
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  highlights()
  for row = 1, offset - 2 do
    local group = lines[row + 1]:find('^⚠') and 'QuillReviewWarning' or 'QuillReviewHelp'
    api.nvim_buf_add_highlight(buf, ns, group, row, 0, -1)
  end
  for row, flags in pairs(rows) do
    api.nvim_buf_set_extmark(buf, ns, row, 0, {
      virt_text = { { '⚠ ' .. table.concat(flags, ', '), 'QuillReviewWarning' } },
      virt_text_pos = 'eol',
    })
    local line = lines[row + 1]
    local from = 1
    while true do
      local s, e = line:find(MARK, from)
      if not s then
        break
      end
      api.nvim_buf_add_highlight(buf, ns, 'QuillReviewWarning', row, s - 1, e)
      from = e + 1
    end
  end
end

-- Window placement: a corner while the user works elsewhere, larger once entered.
local function placement(p, focused)
  local width = prompt_width()
  local rows = 0
  for _, line in ipairs(api.nvim_buf_get_lines(p.buf, 0, -1, false)) do
    rows = rows + math.max(1, math.ceil(vim.fn.strdisplaywidth(line) / width))
  end
  local max = focused and vim.o.lines - 4 or math.floor(vim.o.lines / 3)
  local height = math.max(3, math.min(max, rows))
  return {
    relative = 'editor',
    width = width,
    height = height,
    row = focused and math.max(0, math.floor((vim.o.lines - height) / 2) - 1) or 0,
    col = focused and math.max(0, math.floor((vim.o.columns - width) / 2)) or math.max(0, vim.o.columns - width - 2),
  }
end

local function is_current(p)
  return p.win ~= nil and api.nvim_win_is_valid(p.win) and api.nvim_get_current_win() == p.win
end

local function close_prompt(p)
  if p.closed then
    return
  end
  p.closed = true
  local had_focus = is_current(p)
  if p.win and api.nvim_win_is_valid(p.win) then
    api.nvim_win_close(p.win, true)
  end
  if p.buf and api.nvim_buf_is_valid(p.buf) then
    pcall(api.nvim_buf_delete, p.buf, { force = true })
  end
  -- focus goes back only if the prompt had it: never move the user otherwise
  if had_focus and p.prev_win and api.nvim_win_is_valid(p.prev_win) then
    pcall(api.nvim_set_current_win, p.prev_win)
  end
end

-- Settle prompt `p` with `choice` ('accept', 'reject', 'all', 'cancel'), once.
local on_key

-- A <C-c> Neovim turned into an interrupt skipped the window's mapping (interrupt.lua).
local function watch_interrupts(on)
  if not on then
    interrupt.unwatch('review')
    return
  end
  interrupt.watch('review', function()
    local p = prompts[1]
    if p and p.win and api.nvim_get_current_win() == p.win then
      on_key(p, '<C-c>')
    end
  end)
end

local function decide(p, choice)
  if p.decided then
    return
  end
  p.decided = true
  for i, q in ipairs(prompts) do
    if q == p then
      table.remove(prompts, i)
      break
    end
  end
  if #prompts == 0 then
    watch_interrupts(false)
  end
  pcall(close_prompt, p)
  if choice == 'all' then
    accept_all[p.chat_id] = true
  end
  if choice ~= 'cancel' then
    local ok, err = pcall(p.on_choice, choice == 'all' and 'accept' or choice)
    if not ok then
      notify('quill: ' .. tostring(err), vim.log.levels.ERROR)
    end
  end
  vim.schedule(show_next)
end

-- Forget a first `A` (a second one must follow it in the same visit).
local function forget_all_asked(p)
  if p.all_asked then
    p.all_asked = nil
    if p.buf and api.nvim_buf_is_valid(p.buf) then
      render(p)
    end
  end
end

-- Back to where the user was, the question still open.
local function leave(p)
  if p.prev_win and api.nvim_win_is_valid(p.prev_win) and p.prev_win ~= p.win then
    api.nvim_set_current_win(p.prev_win)
  else
    vim.cmd('wincmd p')
  end
end

-- True when a key may answer: the window has had focus for the grace period.
local function armed(p, since)
  if since and now_ms() - since >= M.grace_ms then
    return true
  end
  api.nvim_echo({ { 'quill: key ignored (the review just got focus); press it again', 'WarningMsg' } }, false, {})
  return false
end

on_key = function(p, key)
  if p.decided then
    return
  end
  if key == '<Esc>' or key == 'q' then
    leave(p)
  elseif key == '<C-c>' then
    -- the turn this prompt belongs to; its cancel closes the prompt
    local stream = require('quill.stream')
    local s = stream.get(p.chat_id)
    if not (s and stream.cancel(s)) then
      decide(p, 'reject')
    end
  elseif not armed(p, p.entered_at) then
    return
  elseif key == 'a' then
    decide(p, 'accept')
  elseif key == 'r' then
    decide(p, 'reject')
  elseif key == 'A' then
    if p.secret then
      api.nvim_echo({ { 'quill: accept-all does not cover reading a secret file: a or r', 'WarningMsg' } }, false, {})
    elseif not p.all_asked then
      p.all_asked = now_ms()
      render(p)
    elseif armed(p, p.all_asked) then
      decide(p, 'all')
    end
  end
end

-- A scratch buffer with the text and keys of prompt `p` (kept while the window is closed).
local function make_buffer(p)
  local buf = api.nvim_create_buf(false, true)
  p.buf = buf
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].filetype = p.secret and '' or 'diff'
  render(p)
  for _, lhs in ipairs({ 'a', 'r', 'A', 'q', '<Esc>', '<C-c>' }) do
    api.nvim_buf_set_keymap(buf, 'n', lhs, '', {
      noremap = true,
      nowait = true,
      silent = true,
      callback = function()
        on_key(p, lhs)
      end,
    })
  end
  api.nvim_create_autocmd('WinEnter', {
    buffer = buf,
    callback = function()
      p.entered_at = now_ms()
    end,
  })
  api.nvim_create_autocmd('WinLeave', {
    buffer = buf,
    callback = function()
      forget_all_asked(p)
      -- back to the corner, out of the way
      vim.schedule(function()
        if not p.decided and p.win and api.nvim_win_is_valid(p.win) and not is_current(p) then
          pcall(api.nvim_win_set_config, p.win, placement(p, false))
        end
      end)
    end,
  })
  api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      p.buf = nil -- rebuilt by :QuillReview
    end,
  })
end

local function set_window_options(win)
  local wo = vim.wo[win]
  wo.wrap = true -- nothing hides past the right edge
  wo.linebreak = false
  wo.list = true
  wo.listchars = 'tab:→ ,trail:·,nbsp:␣'
  wo.conceallevel = 0
  wo.foldenable = false
  pcall(function()
    wo.showbreak = '↪ '
    wo.breakindent = false
  end)
end

local function open_window(p, focused)
  local cfg = placement(p, focused)
  cfg.style = 'minimal'
  cfg.border = 'rounded'
  cfg.focusable = true
  p.win = api.nvim_open_win(p.buf, false, cfg)
  set_window_options(p.win)
  local win = p.win
  api.nvim_create_autocmd('WinClosed', {
    pattern = tostring(win),
    once = true,
    callback = function()
      if p.win == win then
        p.win = nil
      end
      if not p.decided then
        vim.schedule(function()
          if not p.decided then
            notify(('quill: %s is still waiting — :QuillReview to answer'):format(p.label))
          end
        end)
      end
    end,
  })
end

-- Make sure prompt `p` has a buffer and a window (unfocused).
local function show(p)
  if not (p.buf and api.nvim_buf_is_valid(p.buf) and api.nvim_buf_is_loaded(p.buf)) then
    if p.buf and api.nvim_buf_is_valid(p.buf) then
      pcall(api.nvim_buf_delete, p.buf, { force = true })
    end
    make_buffer(p)
  end
  if not (p.win and api.nvim_win_is_valid(p.win)) then
    open_window(p, false)
  end
end

-- The lhs the user mapped to <Plug>(quill-review), if any.
local function review_key()
  for _, m in ipairs(api.nvim_get_keymap('n')) do
    if m.rhs == '<Plug>(quill-review)' then
      return vim.fn.exists('*keytrans') == 1 and vim.fn.keytrans(m.lhs) or (m.lhs:gsub(' ', '<Space>'))
    end
  end
end

local function open_prompt(p)
  show(p)
  if not p.noticed then
    p.noticed = true
    local key = review_key()
    notify(('quill: review: %s — :QuillReview%s to answer'):format(p.label, key and (' or ' .. key) or ''))
  end
end

-- A prompt that cannot be shown is rejected, so the ones behind it still show.
local function try(p, fn)
  local ok, err = pcall(fn, p)
  if not ok then
    pcall(close_prompt, p)
    notify(('quill: could not show the review of %s: %s'):format(p.label, tostring(err)), vim.log.levels.ERROR)
    decide(p, 'reject')
  end
  return ok
end

show_next = function()
  local p = prompts[1]
  if not p or p.opened or p.decided then
    return
  end
  p.opened = true
  try(p, open_prompt)
end

-- Ask the user about a change, unless auto-approved. on_choice('accept'|'reject')
-- runs once; a cancel (ctx) closes the prompt without calling it. opts.secret:
-- a read of a file on the deny list, which neither accept-all nor
-- tools.auto_approve answers; opts.more_lines: preview lines left out of `lines`.
-- At most M.max_lines lines are shown.
function M.confirm(chat_id, title, lines, ctx, on_choice, opts)
  local secret = type(opts) == 'table' and opts.secret == true
  if not secret and (config.get().tools.auto_approve or accept_all[chat_id]) then
    on_choice('accept')
    return
  end
  local label = sanitize(tostring(title):gsub('^quill: ', ''):gsub('%?$', ''))
  local p = {
    chat_id = chat_id,
    title = title,
    label = label,
    lines = type(lines) == 'table' and lines or {},
    -- preview lines the caller left out (counted in the "not shown" line)
    more_lines = type(opts) == 'table' and type(opts.more_lines) == 'number' and opts.more_lines or 0,
    on_choice = on_choice,
    secret = secret,
  }
  table.insert(prompts, p)
  if #prompts == 1 then
    watch_interrupts(true)
  end
  if ctx and ctx.on_cancel then
    ctx.on_cancel(function()
      decide(p, 'cancel')
    end)
  end
  if #prompts == 1 then
    show_next()
  end
end

-- :QuillReview: enter the waiting prompt's window (opened again if closed).
-- Returns false when nothing waits.
function M.jump()
  local p = prompts[1]
  if not p then
    notify('quill: no review is waiting')
    return false
  end
  p.opened = true
  if not is_current(p) then
    p.prev_win = api.nvim_get_current_win()
  end
  if api.nvim_get_mode().mode:find('^i') then
    vim.cmd('stopinsert') -- the window's keys are Normal mode ones
  end
  return try(p, function()
    show(p)
    api.nvim_win_set_config(p.win, placement(p, true))
    api.nvim_set_current_win(p.win) -- WinEnter starts the grace period
  end)
end

-- The prompt on screen (tests, statuslines).
function M.current_prompt()
  return prompts[1]
end

-- Forget the "accept all" choice of a chat.
function M.forget(chat_id)
  accept_all[chat_id] = nil
end

return M
