-- :QuillInsert: stream an answer into the current buffer at the cursor, or
-- in place of a range of lines. The insertion point is an extmark, so the
-- user may edit elsewhere meanwhile, and the whole insertion is one undo step.
local config = require('quill.config')
local stream = require('quill.stream')
local writer = require('quill.writer')

local M = {}

local api = vim.api
local ns = stream.ns

-- Lines of context on each side of the insertion point.
M.CONTEXT_LINES = 40
-- How long the end-of-answer note (stats, [cancelled], error) stays visible.
M.NOTE_MS = 8000

-- Fence filter -----------------------------------------------------------------
-- Drops a markdown code fence around the whole answer while it streams: the
-- first line is held until it is known not to be an opening fence, and in a
-- fenced answer a line that could be the closing fence (and the newline
-- before it) is held until it is known not to be one.

local function could_open(s)
  return s:match('^%s*$') or s:match('^%s*`$') or s:match('^%s*``$') or s:match('^%s*```[%w_+.#-]*%s*$')
end

local function is_open(line)
  return line:match('^%s*```[%w_+.#-]*%s*$') ~= nil
end

local function could_close(s)
  return s:match('^%s*`?`?`?%s*$') ~= nil
end

local function is_close(line)
  return line:match('^%s*```%s*$') ~= nil
end

local Filter = {}
Filter.__index = Filter

function M.new_fence_filter()
  return setmetatable({ mode = 'start', held = '', owe_nl = false, line_open = false }, Filter)
end

function Filter:fenced(text)
  local buf = self.held .. text
  self.held = ''
  local out, pos = {}, 1
  while true do
    local nl = buf:find('\n', pos, true)
    if not nl then
      local rest = buf:sub(pos)
      if rest ~= '' then
        if self.line_open then
          out[#out + 1] = rest
        elseif could_close(rest) then
          self.held = rest
        else
          if self.owe_nl then
            out[#out + 1] = '\n'
          end
          out[#out + 1] = rest
          self.owe_nl, self.line_open = false, true
        end
      end
      break
    end
    local line = buf:sub(pos, nl - 1)
    if self.line_open then
      out[#out + 1] = line
      self.line_open, self.owe_nl = false, true
    elseif is_close(line) then
      self.mode = 'closed'
      self.held = buf:sub(nl + 1)
      break
    else
      if self.owe_nl then
        out[#out + 1] = '\n'
      end
      out[#out + 1] = line
      self.owe_nl = true
    end
    pos = nl + 1
  end
  if self.mode == 'closed' and self.held ~= '' then
    out[#out + 1] = self:closed('')
  end
  return table.concat(out)
end

-- After the closing fence: whitespace is dropped, anything else means the
-- answer was not one fenced block, so the fence line goes back in.
function Filter:closed(text)
  self.held = self.held .. text
  if self.held:match('^%s*$') then
    return ''
  end
  self.mode = 'plain'
  local out = (self.owe_nl and '\n' or '') .. '```\n' .. self.held
  self.held = ''
  return out
end

-- Feed streamed text; returns the text to insert now (may be '').
function Filter:push(text)
  if self.mode == 'plain' then
    return text
  end
  if self.mode == 'fenced' then
    return self:fenced(text)
  end
  if self.mode == 'closed' then
    return self:closed(text)
  end
  -- start: decide on the first line
  local held = self.held .. text
  local nl = held:find('\n', 1, true)
  if nl then
    self.held = ''
    if is_open(held:sub(1, nl - 1)) then
      self.mode = 'fenced'
      return self:fenced(held:sub(nl + 1))
    end
    self.mode = 'plain'
    return held
  end
  if could_open(held) then
    self.held = held
    return ''
  end
  self.mode = 'plain'
  self.held = ''
  return held
end

-- End of the answer; returns the text still held back that belongs to it.
function Filter:finish()
  local held = self.held
  self.held = ''
  if self.mode == 'start' then
    return is_open(held) and '' or held
  end
  if self.mode == 'fenced' then
    if held:match('^%s*$') or is_close(held) then
      return ''
    end
    return (self.owe_nl and '\n' or '') .. held
  end
  return ''
end

-- Prompt -----------------------------------------------------------------------

local function context(buf, first, last)
  first = math.max(first, 0)
  local n = api.nvim_buf_line_count(buf)
  last = math.min(last, n)
  if last <= first then
    return {}
  end
  return api.nvim_buf_get_lines(buf, first, last, false)
end

local function block(title, lines)
  return table.concat({ '----- ' .. title .. ' -----', table.concat(lines, '\n'), '----- end -----' }, '\n')
end

-- The user message for an insertion at (row, col), or replacing rows
-- [first, last) when `selection` is given.
function M.build_prompt(buf, instruction, row, col, selection)
  local ft = vim.bo[buf].filetype
  local name = api.nvim_buf_get_name(buf)
  name = name ~= '' and vim.fn.fnamemodify(name, ':~:.') or '[No Name]'
  local what = ft ~= '' and ('a ' .. ft .. ' file') or 'a plain text file'
  local intro = ('You are editing %s (%s) in Neovim. '):format(name, what)
  local parts = {}
  local n = M.CONTEXT_LINES
  if selection then
    table.insert(parts, intro .. 'Rewrite the selected lines as the instruction asks.')
    table.insert(parts, 'Reply with only the replacement text: no explanations, no markdown code fences.')
    table.insert(parts, block('before the selection', context(buf, row - n, row)))
    table.insert(parts, block('selected lines', selection))
    table.insert(parts, block('after the selection', context(buf, row + #selection, row + #selection + n)))
  else
    local line = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
    local before = context(buf, row - n, row)
    table.insert(before, line:sub(1, col))
    local after = { line:sub(col + 1) }
    vim.list_extend(after, context(buf, row + 1, row + 1 + n))
    table.insert(parts, intro .. 'Write the text to insert at the cursor.')
    table.insert(parts, 'Reply with only the text to insert: no explanations, no markdown code fences.')
    table.insert(parts, block('text before the cursor', before))
    table.insert(parts, block('text after the cursor', after))
  end
  table.insert(parts, 'Instruction: ' .. instruction)
  return table.concat(parts, '\n\n')
end

-- Cancel key ---------------------------------------------------------------------

local maps = {} -- buf -> { count, saved }

local function restore_map(buf, lhs, saved)
  pcall(api.nvim_buf_del_keymap, buf, 'n', lhs)
  if not saved then
    return
  end
  if vim.fn.exists('*mapset') == 1 then
    api.nvim_buf_call(buf, function()
      vim.fn.mapset('n', false, saved)
    end)
    return
  end
  local opts = {
    noremap = saved.noremap == 1,
    silent = saved.silent == 1,
    expr = saved.expr == 1,
    nowait = saved.nowait == 1,
    callback = saved.callback,
  }
  pcall(api.nvim_buf_set_keymap, buf, 'n', lhs, saved.rhs or '', opts)
end

-- Buffer-local cancel map while at least one answer streams into `buf`.
local function hold_map(buf, lhs)
  if not lhs then
    return
  end
  local m = maps[buf]
  if m then
    m.count = m.count + 1
    return
  end
  local saved = nil
  api.nvim_buf_call(buf, function()
    local d = vim.fn.maparg(lhs, 'n', false, true)
    if type(d) == 'table' and d.buffer == 1 then
      saved = d
    end
  end)
  maps[buf] = { count = 1, saved = saved, lhs = lhs }
  api.nvim_buf_set_keymap(buf, 'n', lhs, '', {
    noremap = true,
    silent = true,
    desc = 'quill: stop the answers streaming into this buffer',
    callback = function()
      stream.cancel_all(buf)
    end,
  })
end

local function release_map(buf)
  local m = maps[buf]
  if not m then
    return
  end
  m.count = m.count - 1
  if m.count > 0 then
    return
  end
  maps[buf] = nil
  if api.nvim_buf_is_valid(buf) then
    restore_map(buf, m.lhs, m.saved)
  end
end

-- Session ------------------------------------------------------------------------

local OLD_REDRAW = vim.fn.has('nvim-0.8') == 0

local function set_note(s, chunks)
  local w = s.writer
  if not api.nvim_buf_is_valid(w.buf) then
    return
  end
  local row = w:position()
  s.note = api.nvim_buf_set_extmark(w.buf, ns, row, 0, {
    id = s.note,
    virt_text = chunks,
    virt_text_pos = 'eol',
  })
  -- Neovim 0.7 does not redraw the line a moved mark left: its old text would stay there
  if s.note_row and s.note_row ~= row and OLD_REDRAW then
    pcall(api.nvim__buf_redraw_range, w.buf, s.note_row, s.note_row + 1)
  end
  s.note_row = row
end

local function clear_note(s)
  if s.note and api.nvim_buf_is_valid(s.bufnr) then
    pcall(api.nvim_buf_del_extmark, s.bufnr, ns, s.note)
  end
end

local function update_spinner(s)
  if not s.writer:valid() then
    return
  end
  s.frame = (s.frame or 0) + 1
  set_note(s, { { stream.spinner_text(s, s.frame), 'QuillSpinner' } })
end

-- Run fn with `buf` current (undo commands act on the current buffer).
local function in_buf(buf, fn)
  if api.nvim_get_current_buf() == buf then
    return fn()
  end
  return api.nvim_buf_call(buf, fn)
end

-- When someone else changed the buffer after our first write, the insertion
-- spans several undo blocks or is not the latest one. Delete it and insert it
-- again as one change, so a single `u` removes all of it and leaves the other
-- edits alone (the text itself is unchanged: what is in the buffer between
-- our marks, user edits inside it included).
-- `replaced`: for an answer in whole lines, the lines those took the place of ({} when they
-- went in above a line), so that the step goes from them to the answer.
local function make_one_undo_step(w, replaced)
  local sr, sc, er, ec = w:range()
  local text = api.nvim_buf_get_text(w.buf, sr, sc, er, ec, {})
  local _, _, ours = w:position()
  in_buf(w.buf, function()
    local win = api.nvim_get_current_win()
    local cursor = api.nvim_win_get_cursor(win)
    writer.prepare_undo(w, ours)
    if replaced then
      -- an end at the start of a line: that line is not ours (the user removed the empty one
      -- the answer ended on)
      if ec == 0 and er > sr then
        er = er - 1
        ec = #(api.nvim_buf_get_lines(w.buf, er, er + 1, false)[1] or '')
      end
      local answer = api.nvim_buf_get_lines(w.buf, sr, er + 1, false)
      api.nvim_buf_set_lines(w.buf, sr, er + 1, false, replaced)
      vim.cmd('let &g:undolevels = &g:undolevels')
      api.nvim_buf_set_lines(w.buf, sr, sr + #replaced, false, answer)
      w:set_range(sr, 0, er, ec)
    else
      api.nvim_buf_set_text(w.buf, sr, sc, er, ec, { '' })
      vim.cmd('let &g:undolevels = &g:undolevels')
      api.nvim_buf_set_text(w.buf, sr, sc, sr, sc, text)
      w:own_change()
    end
    pcall(api.nvim_win_set_cursor, win, cursor)
  end)
end

-- A change joined to our undo block (when the last change is ours).
local function joined_change(w, fn)
  local _, _, ours = w:position()
  in_buf(w.buf, function()
    writer.prepare_undo(w, ours)
    fn()
  end)
  w:own_change()
end

-- Write filtered answer text. An answer that began inside a line and turns out to have several
-- lines moves, at its first newline, to lines of its own above that line.
local function emit(s, out)
  if out == '' then
    return
  end
  s.wrote = true
  if s.lift_at_newline then
    local nl = out:find('\n', 1, true)
    if not nl then
      s.writer:write(out)
      return
    end
    s.lift_at_newline = false
    if nl > 1 then
      s.writer:write(out:sub(1, nl - 1))
    end
    s.writer:move_to_line_above()
    s.whole_lines, s.replaced = true, {}
    out = out:sub(nl)
  end
  s.writer:write(out)
end

local function finish(s, o)
  stream.stop_timer(s.timer)
  s.timer = nil
  release_map(s.bufnr)
  local w = s.writer
  if not w:valid() then
    return
  end
  emit(s, s.filter:finish())
  if s.selection and not s.wrote then
    -- nothing came: put the replaced lines back (none when the answer was to go above a line)
    local row, _, ours = w:position()
    if ours then
      in_buf(w.buf, function()
        vim.cmd('silent undo')
      end)
    else
      joined_change(w, function()
        api.nvim_buf_set_lines(w.buf, row, row + 1, false, s.selection)
      end)
    end
  elseif s.whole_lines and s.wrote then
    -- an answer ending in a newline leaves the placeholder line empty: drop it
    local row, col = w:position()
    local line = api.nvim_buf_get_lines(w.buf, row, row + 1, false)[1]
    if col == 0 and line == '' and row > 0 then
      joined_change(w, function()
        api.nvim_buf_set_text(w.buf, row - 1, #api.nvim_buf_get_lines(w.buf, row - 1, row, false)[1], row, 0, { '' })
      end)
    end
  end
  -- After someone else's change, our text is not the last undo step (or is
  -- several): make it one, and the last, so `u` removes exactly the insertion.
  local _, _, ours = w:position()
  if s.wrote and (w.split or not ours) then
    make_one_undo_step(w, s.whole_lines and (s.selection or s.replaced) or nil)
  end
  local chunks = { { ' ' .. stream.stats_text(s, o.stats), 'QuillStats' } }
  if o.status == 'cancelled' then
    table.insert(chunks, 1, { ' [cancelled]', 'QuillCancelled' })
  elseif o.reason == 'limit' then -- the answer outgrew chat.max_answer_bytes
    table.insert(chunks, 1, { ' [stopped: ' .. (o.note or 'size limit reached') .. ']', 'QuillCancelled' })
  elseif o.status == 'error' then
    local what = s.wrote and 'interrupted' or 'error'
    table.insert(chunks, 1, { (' [%s: %s]'):format(what, o.message), 'QuillError' })
    vim.notify('quill: ' .. o.message, vim.log.levels.ERROR)
  end
  set_note(s, chunks)
  w:close()
  -- the note goes with the text: an undo of the insertion takes it away at once
  local buf = s.bufnr
  local seq = s.wrote and in_buf(buf, function()
    return vim.fn.undotree().seq_cur
  end)
  local watch
  local function done_watching()
    if watch then
      pcall(api.nvim_del_autocmd, watch)
      watch = nil
    end
  end
  if seq then
    watch = api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI' }, {
      buffer = buf,
      callback = function()
        if vim.fn.undotree().seq_cur < seq then
          clear_note(s)
          done_watching()
        end
      end,
    })
  end
  vim.defer_fn(function()
    clear_note(s)
    done_watching()
  end, M.NOTE_MS)
end

-- :[range]QuillInsert {instruction}. opts.range: { first, last } (1-based
-- lines) to replace. Without it the answer goes in after the character under
-- the cursor; with the cursor in column 0 of a non-empty line, as whole lines
-- above that line (like :put!); on an empty line, in place of it. An answer of
-- several lines that began inside a line moves above it (see emit).
function M.insert(instruction, opts)
  opts = opts or {}
  if not instruction or vim.trim(instruction) == '' then
    vim.notify('quill: :QuillInsert needs an instruction, e.g. :QuillInsert a function that parses the date',
      vim.log.levels.WARN)
    return nil
  end
  stream.define_highlights()
  local buf = api.nvim_get_current_buf()
  if not vim.bo[buf].modifiable then
    vim.notify('quill: this buffer is not modifiable', vim.log.levels.WARN)
    return nil
  end
  -- tools = false: an insertion is text for the buffer, never a conversation with tools
  local s = { kind = 'inline', bufnr = buf, filter = M.new_fence_filter(), tools = false }
  local prompt
  if opts.range then
    local first, last = opts.range[1] - 1, opts.range[2]
    s.selection = api.nvim_buf_get_lines(buf, first, last, false)
    prompt = M.build_prompt(buf, instruction, first, 0, s.selection)
    -- the selection goes now; the deletion opens our undo block
    vim.cmd('let &g:undolevels = &g:undolevels')
    api.nvim_buf_set_lines(buf, first, last, false, { '' })
    s.writer = writer.new(buf, first, 0, { undo = true, undo_started = true })
    s.whole_lines = true
  else
    local cursor = api.nvim_win_get_cursor(0)
    local row, col = cursor[1] - 1, cursor[2]
    local line = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
    -- Like `a`: after the character under the cursor, so the end of a line works; but a
    -- cursor at the start of a line means "before this line's text", not after its first letter.
    if col > 0 then
      local char = line:sub(col + 1):match('^[%z\1-\127\194-\244][\128-\191]*') or ''
      col = math.min(col + #char, #line)
    end
    prompt = M.build_prompt(buf, instruction, row, col, nil)
    if line == '' then
      -- the empty line is the answer's place
      s.writer = writer.new(buf, row, 0, { undo = true })
      s.whole_lines, s.replaced = true, { '' }
    elseif col == 0 then
      -- a line of its own above the cursor line; the insertion opens our undo block
      vim.cmd('let &g:undolevels = &g:undolevels')
      api.nvim_buf_set_lines(buf, row, row, false, { '' })
      s.writer = writer.new(buf, row, 0, { undo = true, undo_started = true })
      s.whole_lines, s.selection = true, {}
    else
      s.writer = writer.new(buf, row, col, { undo = true })
      s.lift_at_newline = true
    end
  end
  s.sink = function(text)
    emit(s, s.filter:push(text))
  end
  s.on_done = function(o)
    finish(s, o)
  end
  hold_map(buf, config.get().keymaps.cancel)
  stream.start_with_spinner(s, { { role = 'user', content = prompt } }, function()
    update_spinner(s)
  end)
  return s
end

return M
