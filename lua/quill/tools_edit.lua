-- editor/applyEdit and editor/createFile: a model's change to a file, shown as a diff for the
-- user to accept (quill.review), applied to the file's buffer as one undo step and written only
-- when tools.write says so; never under .git; recorded for :QuillUndo (quill.applied). See
-- tools.lua for the rules every tool follows.
local applied = require('quill.applied')
local config = require('quill.config')
local review = require('quill.review')
local tools = require('quill.tools')
local workspace = require('quill.workspace')
local uv = vim.uv or vim.loop

local M = {}

local api = vim.api

local lib = tools.lib
local failed, quote, later, plural, summaries = lib.failed, lib.quote, lib.later, lib.plural, lib.summaries
local buffer_text, check_string, count_lines, find_buffer = lib.buffer_text, lib.check_string, lib.count_lines,
  lib.find_buffer
local resolve_or_throw, sensitive_reason, text_of = lib.resolve_or_throw, lib.sensitive_reason, lib.text_of
local DIFF_MAX_BYTES = lib.DIFF_MAX_BYTES

-- Buffers -------------------------------------------------------------------------

local function load_buffer(real)
  local buf = vim.fn.bufadd(real)
  if not api.nvim_buf_is_loaded(buf) then
    -- no swap-file dialog for a buffer nobody looks at yet
    local shm = vim.o.shortmess
    vim.o.shortmess = shm .. 'A'
    local ok, err = pcall(vim.fn.bufload, buf)
    vim.o.shortmess = shm
    if not ok then
      error(failed('cannot load ' .. real .. ': ' .. tostring(err)), 0)
    end
  end
  vim.bo[buf].buflisted = true
  return buf
end

-- mkdir -p for a resolved absolute path, with libuv (no Vim function sees the name).
local function make_dirs(dir)
  local path = ''
  for _, part in ipairs(workspace.split(dir)) do
    path = path .. '/' .. part
    if not uv.fs_stat(path) then
      uv.fs_mkdir(path, 493) -- 0755; a failure shows when the write fails
    end
  end
end

local function write_buffer(buf, real)
  make_dirs(workspace.dirname(real))
  local ok, err = pcall(api.nvim_buf_call, buf, function()
    vim.cmd('silent noautocmd write')
  end)
  return ok, err
end

-- Byte offset in `text` -> (row, col), 0-based.
local function offset_pos(text, offset)
  local row, line_start = 0, 1
  local pos = 1
  while true do
    local nl = text:find('\n', pos, true)
    if not nl or nl >= offset then
      break
    end
    row = row + 1
    line_start = nl + 1
    pos = nl + 1
  end
  return row, offset - line_start
end

local function split(text)
  return vim.split(text, '\n', { plain = true })
end

-- The occurrences of `needle` in `hay` (overlapping ones count): first start, count.
local function occurrences(hay, needle)
  local n, first, pos = 0, nil, 1
  while true do
    local s = hay:find(needle, pos, true)
    if not s then
      return first, n
    end
    n = n + 1
    first = first or s
    pos = s + 1
  end
end

-- The lines of `text` (a final newline ends the last one), at most `max` of them, and
-- how many more there are.
local function head_lines(text, max)
  local lines, pos, len = {}, 1, #text
  while pos <= len and #lines < max do
    local nl = text:find('\n', pos, true) or len + 1
    lines[#lines + 1] = text:sub(pos, nl - 1)
    pos = nl + 1
  end
  return lines, pos <= len and count_lines(text:sub(pos)) or 0
end

-- The unified diff of `old` -> `new` (whole texts), headed for `rel`, at most
-- review.max_lines lines, and the number of diff lines left out. `offset` is added
-- to the line numbers of each @@ header (a diff of a region of the file).
local function unified(old, new, rel, offset)
  offset = offset or 0
  local lines = { '--- a/' .. rel, '+++ b/' .. rel }
  local max = review.max_lines - #lines
  if #old + #new <= DIFF_MAX_BYTES then
    local body, more = head_lines(vim.diff(old, new, { result_type = 'unified', ctxlen = 3 }), max)
    for _, l in ipairs(body) do
      if offset > 0 then
        l = l:gsub('^@@ %-(%d+)(,?%d*) %+(%d+)', function(a, count, b)
          return ('@@ -%d%s +%d'):format(tonumber(a) + offset, count, tonumber(b) + offset)
        end)
      end
      table.insert(lines, l)
    end
    return lines, more
  end
  -- too big for a minimal diff without a stall: every old line removed, every new one added
  local a, b = count_lines(old), count_lines(new)
  table.insert(lines, ('@@ -%d,%d +%d,%d @@'):format(offset + (a > 0 and 1 or 0), a, offset + (b > 0 and 1 or 0), b))
  max = max - 1
  local old_lines = head_lines(old, max)
  for _, l in ipairs(old_lines) do
    table.insert(lines, '-' .. l)
  end
  local new_lines = head_lines(new, max - #old_lines)
  for _, l in ipairs(new_lines) do
    table.insert(lines, '+' .. l)
  end
  return lines, a + b - #old_lines - #new_lines
end

local HUNK_CONTEXT = 3

-- The diff of replacing bytes [s, e) of `text` with `new`, computed on the lines
-- around the match only (a big file is not diffed whole).
local function hunk_diff(text, s, e, new, rel)
  -- the line starts before s, to step back HUNK_CONTEXT lines
  local starts, pos = { 1 }, 1
  while true do
    local nl = text:find('\n', pos, true)
    if not nl or nl >= s then
      break
    end
    pos = nl + 1
    table.insert(starts, pos)
  end
  local first_line = math.max(1, #starts - HUNK_CONTEXT)
  local from = starts[first_line]
  -- the end of the match's last line, then HUNK_CONTEXT more lines
  local to, search = #text, e - 1
  for _ = 0, HUNK_CONTEXT do
    local nl = text:find('\n', search, true)
    if not nl then
      to = #text
      break
    end
    to, search = nl, nl + 1
  end
  local old_region = text:sub(from, to)
  local new_region = text:sub(from, s - 1) .. new .. text:sub(e, to)
  return unified(old_region, new_region, rel, first_line - 1)
end
M._hunk_diff = hunk_diff

-- Replace the bytes [s, e) (1-based offsets into `text`, the buffer's text)
-- with `new` as one undo step.
local function replace(buf, text, s, e, new)
  local sr, sc = offset_pos(text, s)
  local er, ec
  local nlines = api.nvim_buf_line_count(buf)
  if e > #text and text:sub(-1) == '\n' then
    -- the match takes the final newline: keep it out of set_text's range
    er = nlines - 1
    ec = #(api.nvim_buf_get_lines(buf, er, er + 1, false)[1] or '')
    if new:sub(-1) == '\n' then
      new = new:sub(1, -2)
    end
  else
    er, ec = offset_pos(text, e)
  end
  api.nvim_buf_call(buf, function()
    -- a separate undo step, not joined with the buffer's last change
    vim.cmd('let &g:undolevels = &g:undolevels')
    api.nvim_buf_set_text(buf, sr, sc, er, ec, split(new))
  end)
end

-- editor/applyEdit --------------------------------------------------------------

-- Writes `buf` to `real` when tools.write is on; `msg` (for the model) says what happened.
-- "; unsaved" for the summary of a change that stays in a modified buffer.
local function unsaved_mark(buf)
  return (api.nvim_buf_is_valid(buf) and vim.bo[buf].modified) and '; unsaved' or ''
end

local function save_if_configured(buf, real, msg)
  if not config.get().tools.write then
    return msg .. ' (not saved yet)'
  end
  local ok, err = write_buffer(buf, real)
  if not ok then
    return msg .. '; writing it failed: ' .. tostring(err)
  end
  return msg
end

-- Nothing is written inside a git directory: `.git` (any case) or any directory that
-- is one whatever its name (a bare repository, a renamed .git).
local function refuse_git_write(path, rel, real)
  if workspace.in_git_dir(rel) then
    error(failed(('%s is inside .git; quill never writes there'):format(quote(path))), 0)
  end
  local git_dir = workspace.git_dir_above(real, tools.root())
  if git_dir then
    error(failed(('%s is inside the git directory %s; quill never writes there'):format(
      quote(path), quote(git_dir == tools.root() and '.' or git_dir:sub(#tools.root() + 2)))), 0)
  end
end

-- A path naming a directory (`dir/`, `dir/.`) is no file to create or edit.
local function refuse_directory_path(path)
  if path:sub(-1) == '/' or path:match('^%.%.?$') or path:match('/%.%.?$') then
    error(failed(('path %s names a directory; give the path of a file'):format(quote(path))), 0)
  end
end

-- Model text bigger than tools.max_edit_bytes is refused before any work on it.
local function refuse_big_text(key, text, tool)
  local limit = config.get().tools.max_edit_bytes
  if #text > limit then
    error(failed(('%s is %d bytes, more than tools.max_edit_bytes (%d); %s refuses it: make smaller changes'):format(
      key, #text, limit, tool)), 0)
  end
end

-- The size of the file edit_file would change: its loaded buffer, else the disk.
local function edit_size(real)
  local buf = find_buffer(real)
  if buf then
    return api.nvim_buf_get_offset(buf, api.nvim_buf_line_count(buf))
  end
  local stat = uv.fs_stat(real)
  return stat and stat.type == 'file' and stat.size or 0
end

-- apply_edit once the path is known not to be sensitive.
local function edit(path, old, new, chat_id, real, rel, ctx, respond)
  -- before anything is read or loaded (BufRead, FileType, LSP would see it all)
  local limit = config.get().tools.max_edit_bytes
  local size = edit_size(real)
  if size > limit then
    error(failed(('%s is %d bytes, more than tools.max_edit_bytes (%d); edit_file refuses it'):format(
      quote(path), size, limit)), 0)
  end
  local buf, text = text_of(path, real, ' (use create_file for a new file)')
  if not buf then
    -- the edit goes through a buffer: it is one undo step and stays unsaved unless configured
    buf = load_buffer(real)
    text = buffer_text(buf)
  end
  local s, n = occurrences(text, old)
  if n == 0 then
    error(failed(('old_text not found in %s'):format(path)), 0)
  end
  if n > 1 then
    error(failed(('old_text matches %d times in %s; include more context'):format(n, path)), 0)
  end
  local e = s + #old
  local tick = api.nvim_buf_get_changedtick(buf)
  local preview, more = hunk_diff(text, s, e, new, rel)
  review.confirm(chat_id, 'quill: edit ' .. rel .. '?', preview, ctx, later(respond, function(choice)
    if choice ~= 'accept' then
      summaries[chat_id] = 'rejected'
      respond(nil, { applied = false, message = 'the user rejected this edit' })
      return
    end
    if not api.nvim_buf_is_valid(buf) then
      respond(failed(('%s was closed before the edit was applied'):format(path)))
      return
    end
    if api.nvim_buf_get_changedtick(buf) ~= tick then
      -- changed while the user was looking: find the text again
      text = buffer_text(buf)
      s, n = occurrences(text, old)
      if n ~= 1 then
        respond(failed(('%s changed meanwhile and old_text now matches %d times; read it again'):format(path, n)))
        return
      end
      e = s + #old
    end
    local before = api.nvim_buf_get_lines(buf, 0, -1, false)
    replace(buf, text, s, e, new)
    applied.edited(chat_id, buf, rel, before) -- for :QuillUndo
    local msg = ('edited %s (%s replaced by %d)'):format(rel, plural(count_lines(old), 'line'), count_lines(new))
    msg = save_if_configured(buf, real, msg)
    summaries[chat_id] = ('%s replaced by %d'):format(plural(count_lines(old), 'line'), count_lines(new))
      .. unsaved_mark(buf)
    respond(nil, { applied = true, message = msg })
  end), { more_lines = more })
end

function M.apply_edit(params, respond, ctx)
  local path = check_string(params, 'path', true)
  local old = check_string(params, 'oldText', true)
  local new = check_string(params, 'newText', false)
  local chat_id = params.chatId or ''
  refuse_directory_path(path)
  refuse_big_text('old_text', old, 'edit_file')
  refuse_big_text('new_text', new, 'edit_file')
  local real, rel = resolve_or_throw(path)
  refuse_git_write(path, rel, real)
  -- a file that may hold secrets is refused before a byte of it is read, with the same
  -- words whatever old_text is (its answers would tell the model what the file holds)
  sensitive_reason(rel, real, ctx, respond, later(respond, function(reason)
    if reason then
      summaries[chat_id] = 'refused'
      respond(failed(('%s is %s; edit_file refuses it (its answers could tell what it holds)'):format(quote(rel), reason)))
      return
    end
    edit(path, old, new, chat_id, real, rel, ctx, respond)
  end))
end

-- editor/createFile ---------------------------------------------------------------

function M.create_file(params, respond, ctx)
  local path = check_string(params, 'path', true)
  local content = check_string(params, 'content', false)
  local chat_id = params.chatId or ''
  refuse_directory_path(path)
  refuse_big_text('content', content, 'create_file')
  local real, rel = resolve_or_throw(path)
  refuse_git_write(path, rel, real)
  local function exists(where)
    return uv.fs_lstat(where) ~= nil or find_buffer(where) ~= nil
  end
  if exists(real) then
    error(failed(("'%s' already exists; use edit_file to change it"):format(path)), 0)
  end
  local preview, more = unified('', content, rel)
  preview[1] = '--- /dev/null'
  review.confirm(chat_id, 'quill: create ' .. rel .. '?', preview, ctx, later(respond, function(choice)
    if choice ~= 'accept' then
      summaries[chat_id] = 'rejected'
      respond(nil, { created = false, message = 'the user rejected creating this file' })
      return
    end
    -- the tree may have changed while the review was open (a parent swapped for a
    -- symlink): resolve and confine again, and write only where the user agreed to
    local now, now_rel = resolve_or_throw(path)
    if now ~= real then
      respond(failed(('%s now resolves to another place than the one reviewed; nothing was created'):format(quote(path))))
      return
    end
    refuse_git_write(path, now_rel, now)
    if exists(real) then
      respond(failed(("'%s' was created meanwhile"):format(path)))
      return
    end
    local lines = split(content)
    local eol = false
    if #lines > 1 and lines[#lines] == '' then
      table.remove(lines)
      eol = true
    end
    local buf = vim.fn.bufadd(real)
    vim.fn.bufload(buf)
    vim.bo[buf].buflisted = true
    api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].eol = eol or content == ''
    local msg = ('created %s (%s)'):format(rel, plural(count_lines(content), 'line'))
    msg = save_if_configured(buf, real, msg)
    applied.created(chat_id, buf, real, rel, not vim.bo[buf].modified and uv.fs_stat(real) ~= nil)
    summaries[chat_id] = plural(count_lines(content), 'line') .. unsaved_mark(buf)
    respond(nil, { created = true, message = msg })
  end), { more_lines = more })
end

return M
