-- What the model's tool calls changed, answer by answer (by chat turn id), so :QuillUndo can take
-- it back: each accepted edit as the lines it replaced and the lines it left (an extmark follows
-- them through the user's other changes), each created file with its content. Undoing refuses,
-- saying why, wherever the user changed those lines since. Kept for this Neovim only: buffers
-- and extmarks do not survive a restart.
local M = {}

local api = vim.api
local uv = vim.uv or vim.loop
local ns = api.nvim_create_namespace('quill_applied')

local records = {} -- turn id -> list of changes, in the order they were applied

local function add(turn_id, change)
  records[turn_id] = records[turn_id] or {}
  table.insert(records[turn_id], change)
end

-- An edit of `buf` replaced lines `first`.. (0-based) `old_lines` by `count` lines.
function M.edited(turn_id, buf, rel, first, old_lines, count)
  local new_lines = api.nvim_buf_get_lines(buf, first, first + count, false)
  local mark = api.nvim_buf_set_extmark(buf, ns, first, 0, {})
  add(turn_id, { kind = 'edit', buf = buf, rel = rel, mark = mark, old = old_lines, new = new_lines })
end

-- `buf` was created for `real` (written to disk when `written`) with `lines`.
function M.created(turn_id, buf, real, rel, written)
  add(turn_id, { kind = 'create', buf = buf, real = real, rel = rel, written = written,
    lines = api.nvim_buf_get_lines(buf, 0, -1, false) })
end

function M.count(turn_id)
  return #(records[turn_id] or {})
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

local function read_disk(path)
  local fd = uv.fs_open(path, 'r', 0)
  if not fd then
    return nil
  end
  local st = uv.fs_fstat(fd)
  local data = st and st.size <= 64 * 1024 * 1024 and uv.fs_read(fd, st.size, 0) or nil
  uv.fs_close(fd)
  return data
end

-- Why change `c` cannot be taken back, or nil.
local function refusal(c)
  if not api.nvim_buf_is_valid(c.buf) or not api.nvim_buf_is_loaded(c.buf) then
    return c.rel .. ' is no longer open'
  end
  if c.kind == 'edit' then
    local row = api.nvim_buf_get_extmark_by_id(c.buf, ns, c.mark, {})[1]
    if not row or not same(api.nvim_buf_get_lines(c.buf, row, row + #c.new, false), c.new) then
      return ('%s: the edited lines were changed since'):format(c.rel)
    end
    return nil
  end
  if not same(api.nvim_buf_get_lines(c.buf, 0, -1, false), c.lines) then
    return ('%s: changed since it was created'):format(c.rel)
  end
  if c.written then
    local disk = read_disk(c.real)
    local want = table.concat(c.lines, '\n') .. (vim.bo[c.buf].eol and '\n' or '')
    if disk ~= want then
      return ('%s: the file on disk changed since it was created'):format(c.rel)
    end
  end
  return nil
end

-- Takes back every change of answer `turn_id` that the user has not changed since: edits in
-- reverse order, one undo step per buffer; created files removed (their buffer wiped, the file
-- deleted when quill wrote it). Returns { undone = { text… }, refused = { why… } }.
function M.undo(turn_id)
  local list = records[turn_id] or {}
  local report = { undone = {}, refused = {} }
  local kept = {}
  local stepped = {} -- buffers whose undo step has begun
  for i = #list, 1, -1 do
    local c = list[i]
    local why = refusal(c)
    if why then
      table.insert(report.refused, why)
      table.insert(kept, 1, c)
    elseif c.kind == 'edit' then
      local row = api.nvim_buf_get_extmark_by_id(c.buf, ns, c.mark, {})[1]
      api.nvim_buf_call(c.buf, function()
        if not stepped[c.buf] then
          stepped[c.buf] = true
          vim.cmd('let &g:undolevels = &g:undolevels') -- apart from the user's last change
        end
        api.nvim_buf_set_lines(c.buf, row, row + #c.new, false, c.old)
      end)
      api.nvim_buf_del_extmark(c.buf, ns, c.mark)
      table.insert(report.undone, 'an edit of ' .. c.rel)
    else
      if c.written then
        uv.fs_unlink(c.real)
      end
      api.nvim_buf_delete(c.buf, { force = true })
      table.insert(report.undone, (c.written and 'deleted ' or 'dropped the new buffer ') .. c.rel)
    end
  end
  records[turn_id] = #kept > 0 and kept or nil
  return report
end

return M
