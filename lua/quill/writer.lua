-- Appends streamed text at a tracked end position of a buffer. Cost per call
-- is the size of the text: one nvim_buf_set_text, no reads of the buffer.
--
-- The end is cached as (row, col) and trusted while b:changedtick is the one
-- our last write left; after anyone else's change it is re-read from an
-- extmark with right gravity (it moves with text inserted before it and stays
-- behind text we insert at it).
local M = {}

local api = vim.api
local ns = api.nvim_create_namespace('quill_writer')
M.ns = ns

local Writer = {}
Writer.__index = Writer

-- A writer appending at (row, col) (0-based, byte column) of `buf`.
-- opts.undo: keep all writes one undo step (see M.prepare_undo).
function M.new(buf, row, col, opts)
  opts = opts or {}
  local w = setmetatable({
    buf = buf,
    row = row,
    col = col,
    undo = opts.undo,
    -- true once the undo block holding our text is open (a caller that made
    -- the first change itself, e.g. deleting a selection, sets it)
    undo_started = opts.undo_started,
  }, Writer)
  -- start: left gravity so it stays before our text
  w.start_mark = api.nvim_buf_set_extmark(buf, ns, row, col, { right_gravity = false })
  w.end_mark = api.nvim_buf_set_extmark(buf, ns, row, col, { right_gravity = true })
  w.tick = api.nvim_buf_get_changedtick(buf)
  return w
end

-- Split on '\n' (plain); for the one-line case no table building beyond {text}.
local function split_lines(text)
  if not text:find('\n', 1, true) then
    return { text }
  end
  local lines, n, pos = {}, 0, 1
  while true do
    local nl = text:find('\n', pos, true)
    n = n + 1
    if not nl then
      lines[n] = text:sub(pos)
      return lines
    end
    lines[n] = text:sub(pos, nl - 1)
    pos = nl + 1
  end
end
M.split_lines = split_lines

-- Current end position (row, col), refreshed from the extmark when someone
-- else changed the buffer. Returns also whether the last change was ours.
function Writer:position()
  local buf = self.buf
  if api.nvim_buf_get_changedtick(buf) == self.tick then
    return self.row, self.col, true
  end
  local pos = api.nvim_buf_get_extmark_by_id(buf, ns, self.end_mark, {})
  self.row, self.col = pos[1], pos[2]
  return self.row, self.col, false
end

-- Undo bookkeeping before a change to `buf` (which must be current). Our
-- writes join one undo block while the buffer's last change is ours; after
-- anyone else's change the block is closed first, so the other change never
-- lands in our block nor ours in theirs (e.g. an Insert-mode session).
function M.prepare_undo(self, ours)
  if self.undo_started and ours then
    pcall(vim.cmd, 'undojoin')
  else
    if self.undo_started then
      self.split = true -- our text now spans several undo blocks
    end
    self.undo_started = true
    vim.cmd('let &g:undolevels = &g:undolevels')
  end
end

local function set_text_undoable(self, row, col, lines, ours)
  M.prepare_undo(self, ours)
  api.nvim_buf_set_text(self.buf, row, col, row, col, lines)
end

local function write(self, text)
  local buf = self.buf
  local row, col, ours = self:position()
  local lines = split_lines(text)
  if not self.undo then
    api.nvim_buf_set_text(buf, row, col, row, col, lines)
  elseif api.nvim_get_current_buf() == buf then
    set_text_undoable(self, row, col, lines, ours)
  else
    -- undojoin and the undo sync act on the current buffer
    api.nvim_buf_call(buf, function()
      set_text_undoable(self, row, col, lines, ours)
    end)
  end
  local n = #lines
  if n == 1 then
    self.col = col + #text
  else
    self.row = row + n - 1
    self.col = #lines[n]
  end
  self.tick = api.nvim_buf_get_changedtick(buf)
end

-- Append `text`. Returns false (and stops writing) once the buffer is gone.
function Writer:write(text)
  if self.dead then
    return false
  end
  local ok, err = pcall(write, self, text)
  if not ok then
    if not api.nvim_buf_is_valid(self.buf) then
      self.dead = true
      return false
    end
    error(err, 0)
  end
  return true
end

-- Move the text written so far, still on one line, to a new line of its own above that line;
-- writing goes on at its end. Joined to our undo block like a write.
function Writer:move_to_line_above()
  local buf = self.buf
  local sr, sc, er, ec = self:range()
  local _, _, ours = self:position()
  local lines = api.nvim_buf_get_text(buf, sr, sc, er, ec, {}) -- a newline the user typed stays
  local function move()
    M.prepare_undo(self, ours)
    api.nvim_buf_set_text(buf, sr, sc, er, ec, { '' })
    vim.cmd('undojoin')
    api.nvim_buf_set_lines(buf, sr, sr, false, lines)
  end
  if api.nvim_get_current_buf() == buf then
    move()
  else
    api.nvim_buf_call(buf, move)
  end
  self:set_range(sr, 0, sr + #lines - 1, #lines[#lines])
end

-- After a change of ours around the text (not a write): the end is read again from its mark,
-- and the change counts as ours, so the next write joins our undo block.
function Writer:own_change()
  local pos = api.nvim_buf_get_extmark_by_id(self.buf, ns, self.end_mark, {})
  self.row, self.col = pos[1], pos[2]
  self.tick = api.nvim_buf_get_changedtick(self.buf)
end

-- Put the marks around (sr, sc)..(er, ec), text that replaced ours as a whole.
function Writer:set_range(sr, sc, er, ec)
  api.nvim_buf_set_extmark(self.buf, ns, sr, sc, { id = self.start_mark, right_gravity = false })
  api.nvim_buf_set_extmark(self.buf, ns, er, ec, { id = self.end_mark, right_gravity = true })
  self.row, self.col = er, ec
  self.tick = api.nvim_buf_get_changedtick(self.buf)
end

-- (start_row, start_col, end_row, end_col) of the text written so far.
function Writer:range()
  local s = api.nvim_buf_get_extmark_by_id(self.buf, ns, self.start_mark, {})
  local row, col = self:position()
  return s[1], s[2], row, col
end

function Writer:valid()
  return not self.dead and api.nvim_buf_is_valid(self.buf)
end

-- Forget the marks (the text stays).
function Writer:close()
  if self:valid() then
    api.nvim_buf_del_extmark(self.buf, ns, self.start_mark)
    api.nvim_buf_del_extmark(self.buf, ns, self.end_mark)
  end
  self.dead = true
end

return M
