-- What the model's tool calls changed, answer by answer (by chat turn id), so :QuillUndo can take
-- it back. Per edited buffer, the lines before the answer's first edit and after its last one:
-- their difference is what the answer did, however its edits overlapped. Undoing compares that
-- with what the buffer holds now (the user may have changed it since): each of the answer's
-- changes that the user's own changes do not touch is taken back, where it now is; the others are
-- left alone, saying so. Created files are removed when they still hold what was created. Kept
-- for this Neovim only: buffers do not survive a restart.
local M = {}

local api = vim.api
local uv = vim.uv or vim.loop

-- turn id -> { edits = { [buf] = { rel, before, after } }, order = { buf… }, created = { … } }
local records = {}

local function record(turn_id)
  records[turn_id] = records[turn_id] or { edits = {}, order = {}, created = {} }
  return records[turn_id]
end

-- An edit of `buf` (shown as `rel`) turned its lines `before` into what it holds now.
function M.edited(turn_id, buf, rel, before)
  local r = record(turn_id)
  local e = r.edits[buf]
  if not e then
    e = { rel = rel, before = before }
    r.edits[buf] = e
    table.insert(r.order, buf)
  end
  e.after = api.nvim_buf_get_lines(buf, 0, -1, false)
end

-- `buf` was created for `real` (written to disk when `written`).
function M.created(turn_id, buf, real, rel, written)
  table.insert(record(turn_id).created, { buf = buf, real = real, rel = rel, written = written,
    lines = api.nvim_buf_get_lines(buf, 0, -1, false) })
end

-- How many buffers and files answer `turn_id` changed.
function M.count(turn_id)
  local r = records[turn_id]
  return r and (#r.order + #r.created) or 0
end

local function same(a, b)
  if #a ~= #b then
    return false
  end
  for i = 1, #a do
    if a[i] ~= b[i] then
      return false
    end
  end
  return true
end

-- The hunks turning lines `a` into lines `b`, as 0-based half-open ranges { a0, a1, b0, b1 }.
local function hunks(a, b)
  local function text(lines)
    return #lines == 0 and '' or (table.concat(lines, '\n') .. '\n')
  end
  local out = {}
  for _, h in ipairs(vim.diff(text(a), text(b), { result_type = 'indices' })) do
    local a0 = h[2] == 0 and h[1] or h[1] - 1
    local b0 = h[4] == 0 and h[3] or h[3] - 1
    table.insert(out, { a0, a0 + h[2], b0, b0 + h[4] })
  end
  return out
end

-- Whether ranges [s1, e1) and [s2, e2) touch: they overlap, or one is a point of insertion at
-- the other's edge or inside it.
local function touch(s1, e1, s2, e2)
  if s1 == e1 or s2 == e2 then
    return s1 <= e2 and s2 <= e1
  end
  return s1 < e2 and s2 < e1
end

-- Takes back the answer's changes to one buffer. Returns how many were taken back and how many
-- were left alone (the user changed those lines since).
local function undo_buffer(buf, e)
  local now = api.nvim_buf_get_lines(buf, 0, -1, false)
  local model = hunks(e.before, e.after) -- before -> after: the answer's changes
  local user = hunks(e.after, now) -- after -> now: the user's since
  local todo, refused = {}, 0
  for _, m in ipairs(model) do
    local clash, shift = false, 0
    for _, u in ipairs(user) do
      if touch(m[3], m[4], u[1], u[2]) then
        clash = true
        break
      elseif u[2] <= m[3] then
        shift = shift + (u[4] - u[3]) - (u[2] - u[1])
      end
    end
    if clash then
      refused = refused + 1
    else
      table.insert(todo, { from = m[3] + shift, to = m[4] + shift, lines = { unpack(e.before, m[1] + 1, m[2]) } })
    end
  end
  if #todo > 0 then
    api.nvim_buf_call(buf, function()
      vim.cmd('let &g:undolevels = &g:undolevels') -- one undo step, apart from the user's last change
      for i = #todo, 1, -1 do -- from the bottom: the rows above stay where they are
        local t = todo[i]
        api.nvim_buf_set_lines(buf, t.from, t.to, false, t.lines)
      end
    end)
  end
  return #todo, refused
end

local function read_disk(path)
  local fd = uv.fs_open(path, 'r', 0)
  if not fd then
    return nil
  end
  local st = uv.fs_fstat(fd)
  local data = st and st.type == 'file' and st.size <= 64 * 1024 * 1024 and uv.fs_read(fd, st.size, 0) or nil
  uv.fs_close(fd)
  return data
end

local function alive(buf)
  return api.nvim_buf_is_valid(buf) and api.nvim_buf_is_loaded(buf)
end

-- Why created file `c` stays, or nil.
local function keep_created(c)
  if not alive(c.buf) then
    return c.rel .. ' is no longer open'
  end
  if not same(api.nvim_buf_get_lines(c.buf, 0, -1, false), c.lines) then
    return c.rel .. ': changed since it was created'
  end
  if c.written then
    local want = table.concat(c.lines, '\n') .. (vim.bo[c.buf].eol and '\n' or '')
    if read_disk(c.real) ~= want then
      return c.rel .. ': the file on disk changed since it was created'
    end
  end
  return nil
end

local function plural(n, word)
  return ('%d %s%s'):format(n, word, n == 1 and '' or 's')
end

-- Takes back what answer `turn_id` changed (see the top of this file). Returns
-- { undone = { text… }, refused = { why… } }. What was left alone can be taken back by a later
-- call once the user has undone their own change there; what was taken back is forgotten.
function M.undo(turn_id)
  local r = records[turn_id]
  local report = { undone = {}, refused = {} }
  if not r then
    return report
  end
  local keep = { edits = {}, order = {}, created = {} }
  for _, buf in ipairs(r.order) do
    local e = r.edits[buf]
    if not alive(buf) then
      table.insert(report.refused, e.rel .. ' is no longer open')
    else
      local done, refused = undo_buffer(buf, e)
      if done > 0 then
        table.insert(report.undone, ('%s in %s'):format(plural(done, 'change'), e.rel))
      end
      if refused > 0 then
        table.insert(report.refused, ('%s in %s: you changed those lines since'):format(plural(refused, 'change'), e.rel))
        if done == 0 then
          keep.edits[buf] = e -- untouched: it can go once the user undoes their change
          table.insert(keep.order, buf)
        end
      end
    end
  end
  -- files last: their edits (if any) are taken back by now
  for i = #r.created, 1, -1 do
    local c = r.created[i]
    local why = keep_created(c)
    if why then
      table.insert(report.refused, why)
      table.insert(keep.created, 1, c)
    else
      if c.written then
        uv.fs_unlink(c.real)
      end
      api.nvim_buf_delete(c.buf, { force = true })
      table.insert(report.undone, (c.written and 'deleted ' or 'dropped the new buffer ') .. c.rel)
    end
  end
  records[turn_id] = (#keep.order + #keep.created > 0) and keep or nil
  return report
end

return M
