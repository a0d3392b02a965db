-- The editor side of tool calls: the backend's `editor/*` requests (read,
-- list, edit, create); changes and secret reads are asked about through
-- quill.review.
--
-- Safety: a model's path is data, confined by quill.workspace (never expanded,
-- control characters refused, symlinks resolved, nothing outside the root) before
-- a byte is read or written; nothing is written under .git; sensitive reads ask
-- first. Listings and git run without blocking the loop and are bounded; text
-- sent back is valid UTF-8. Refusals are ToolFailed errors whose message the
-- model reads as the tool result.
local backend = require('quill.backend')
local applied = require('quill.applied')
local config = require('quill.config')
local review = require('quill.review')
local workspace = require('quill.workspace')
local uv = vim.uv or vim.loop

local M = {}

local api = vim.api

local TOOL_FAILED = backend.errors.ToolFailed
local INVALID_PARAMS = backend.errors.InvalidParams
local BINARY_PROBE = 8192 -- a NUL byte in this many leading bytes means binary
local MAX_DISK_READ = 16 * 1024 * 1024 -- never slurp more than this from disk (a synchronous read)
local MAX_PATTERN_BYTES = 256 -- list_files refuses longer patterns
local DIFF_MAX_BYTES = 65536 -- bigger changes are shown as all removed, all added (xdiff: ~0.5 s a MiB)

-- list_files works in slices of at most this long (the loop runs between them); without
-- git, its walk of the tree stops after walk_max_entries (the listing is then truncated).
M.slice_ns = 4e6
M.walk_max_entries = 200000

local summaries = {} -- chatId -> one-line summary of the last result (for the chat block)
local registered = false

local function failed(msg)
  return { code = TOOL_FAILED, message = msg }
end

local function bad_params(msg)
  return { code = INVALID_PARAMS, message = msg }
end

local quote = workspace.quote

-- Paths ----------------------------------------------------------------------

local realpath = uv.fs_realpath

M.root = workspace.root

-- Resolve `path` inside the workspace (see workspace.resolve). Returns real, rel or
-- nil, error (a JSON-RPC error table).
function M.resolve(path)
  if type(path) ~= 'string' or path == '' then
    return nil, bad_params("'path' must be a non-empty string")
  end
  local real, rel = workspace.resolve(path)
  if not real then
    return nil, failed(rel)
  end
  return real, rel
end

-- The loaded buffer showing file `real` (names compared after resolving).
local function find_buffer(real)
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(b) and vim.bo[b].buftype == '' then
      local name = api.nvim_buf_get_name(b)
      if name ~= '' and (name == real or realpath(name) == real) then
        return b
      end
    end
  end
  return nil
end
M._find_buffer = find_buffer

-- Text ------------------------------------------------------------------------

local function read_disk(real, limit)
  local fd, err = uv.fs_open(real, 'r', 0)
  if not fd then
    return nil, err
  end
  local stat = uv.fs_fstat(fd)
  local size = math.min(stat and stat.size or 0, limit or MAX_DISK_READ)
  local chunks, got = {}, 0
  while got < size do
    local data = uv.fs_read(fd, math.min(size - got, 1024 * 1024), got)
    if not data or data == '' then
      break
    end
    table.insert(chunks, data)
    got = got + #data
  end
  uv.fs_close(fd)
  return table.concat(chunks), nil, stat and stat.size or got
end

-- A buffer's text as the file would hold it (a final newline when 'eol').
local function buffer_text(buf)
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  if #lines == 1 and lines[1] == '' then
    return ''
  end
  local text = table.concat(lines, '\n')
  if vim.bo[buf].eol or vim.bo[buf].fixeol then
    text = text .. '\n'
  end
  return text
end

-- Buffer lines hold NUL bytes as '\n'.
local function buffer_is_binary(buf)
  local size = 0
  for _, line in ipairs(api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if line:find('\n', 1, true) then
      return true
    end
    size = size + #line + 1
    if size > BINARY_PROBE then
      break
    end
  end
  return false
end

local function is_binary(text)
  return text:sub(1, BINARY_PROBE):find('\0', 1, true) ~= nil
end

-- Lines first..last (1-based, inclusive, clipped) of `text`, with their newlines, and
-- whether the range ran to the end of `text` (a cut text may hold more of it).
local function line_range(text, first, last)
  if first <= 1 and not last then
    return text, true
  end
  local pos, line, start_pos = 1, 1, nil
  if first <= 1 then
    start_pos = 1
  end
  while line < first do
    local nl = text:find('\n', pos, true)
    if not nl or nl == #text then
      return '', true
    end
    pos = nl + 1
    line = line + 1
  end
  start_pos = start_pos or pos
  if not last then
    return text:sub(start_pos), true
  end
  while line <= last do
    local nl = text:find('\n', pos, true)
    if not nl then
      return text:sub(start_pos), true
    end
    pos = nl + 1
    line = line + 1
  end
  return text:sub(start_pos, pos - 1), false
end
M._line_range = line_range

-- Cut `text` to `max` bytes: at the last newline if there is one in the
-- second half, else on a UTF-8 boundary.
local function cap(text, max)
  if #text <= max then
    return text, false
  end
  -- scan back from the cut for a newline, no further than the second half
  -- (a pattern like '.*()\n' is quadratic on a long line)
  local byte = string.byte
  for nl = max, math.floor(max / 2) + 1, -1 do
    if byte(text, nl) == 10 then
      return text:sub(1, nl), true
    end
  end
  local stop = max
  while stop > 0 and text:byte(stop + 1) and text:byte(stop + 1) >= 0x80 and text:byte(stop + 1) < 0xC0 do
    stop = stop - 1
  end
  return text:sub(1, stop), true
end

local function count_lines(text)
  if text == '' then
    return 0
  end
  local _, n = text:gsub('\n', '')
  if text:sub(-1) ~= '\n' then
    n = n + 1
  end
  return n
end

local function plural(n, word)
  return n .. ' ' .. word .. (n == 1 and '' or 's')
end

-- Params ----------------------------------------------------------------------

local function check_int(params, key)
  local v = params[key]
  if v == nil or v == vim.NIL then
    return nil
  end
  if type(v) ~= 'number' or v % 1 ~= 0 or v < 1 then
    error(bad_params(("'%s' must be a positive integer"):format(key)), 0)
  end
  return v
end

local function check_string(params, key, non_empty)
  local v = params[key]
  if type(v) ~= 'string' or (non_empty and v == '') then
    error(bad_params(("'%s' must be a %sstring"):format(key, non_empty and 'non-empty ' or '')), 0)
  end
  return v
end

local function as_error(err)
  if type(err) == 'table' and err.code then
    return err
  end
  return { code = backend.errors.InternalError, message = tostring(err) }
end

-- Run fn(params, respond, ctx); an error table it throws becomes the answer.
local function guarded(fn)
  return function(params, respond, ctx)
    if type(params) ~= 'table' then
      respond(bad_params('params must be an object'))
      return
    end
    ctx = ctx or {}
    ctx.on_cancel = ctx.on_cancel or function() end
    ctx.cancelled = ctx.cancelled or function()
      return false
    end
    local ok, err = pcall(fn, params, respond, ctx)
    if not ok then
      respond(as_error(err))
    end
  end
end

-- A callback that runs fn(...) later (after git, a walk slice, the user's choice) with
-- the same guard: an error it throws becomes the answer.
local function later(respond, fn)
  return function(...)
    local ok, err = pcall(fn, ...)
    if not ok then
      respond(as_error(err))
    end
  end
end

local function resolve_or_throw(path)
  local real, rel = M.resolve(path)
  if not real then
    error(rel, 0)
  end
  return real, rel
end

-- editor/readFile ------------------------------------------------------------

-- The text of the file at `real`: its loaded buffer (unsaved changes included) and the buffer's
-- text, or nil and the text on disk (at most MAX_DISK_READ bytes; a third result says the
-- file holds more). Errors the model can read for anything that is not a readable text
-- file; `missing` ends the not-found message; `limit` (default MAX_DISK_READ) caps the read.
local function text_of(path, real, missing, limit)
  local buf = find_buffer(real)
  if buf then
    if buffer_is_binary(buf) then
      error(failed(("'%s' is a binary file"):format(path)), 0)
    end
    return buf, buffer_text(buf)
  end
  local stat = uv.fs_stat(real)
  if not stat then
    error(failed(("file not found: '%s'%s"):format(path, missing or '')), 0)
  end
  if stat.type == 'directory' then
    error(failed(("'%s' is a directory; use list_files"):format(path)), 0)
  end
  if stat.type ~= 'file' then
    error(failed(("'%s' is not a regular file"):format(path)), 0)
  end
  local data, err, size = read_disk(real, limit)
  if not data then
    error(failed(("cannot read '%s': %s"):format(path, tostring(err))), 0)
  end
  if is_binary(data) then
    error(failed(("'%s' is a binary file"):format(path)), 0)
  end
  return nil, data, size > #data
end

-- Why the file `rel` (resolved: `real`) may hold secrets (under .git, on tools.deny,
-- ignored by git, or git could not tell), or nil: cb(reason) runs once, later unless
-- the deny list or .git already answers.
local function sensitive_reason(rel, real, ctx, respond, cb)
  local reason = workspace.sensitive(rel)
  if reason or rel == '.' then
    cb(reason)
    return
  end
  workspace.ignored(real, later(respond, function(state)
    if ctx.cancelled() then
      return
    end
    if state == 'ignored' then
      cb('ignored by git')
    elseif state == 'unknown' then
      cb('in a git repository that could not say whether it ignores it')
    else
      cb(nil)
    end
  end))
end

-- Ask before anything sensitive reaches the model; go() runs when it may. A refusal
-- is the answer the model reads.
local function with_consent(chat_id, rel, real, ctx, respond, go)
  sensitive_reason(rel, real, ctx, respond, function(reason)
    if not reason then
      go()
      return
    end
    if config.get().tools.deny_policy == 'refuse' then
      summaries[chat_id] = 'refused'
      respond(failed(("%s is %s; reading it is refused (tools.deny_policy = 'refuse')"):format(quote(rel), reason)))
      return
    end
    local lines = {
      'The model asks to read ' .. rel .. ', which is ' .. reason .. '.',
      'It may hold secrets (keys, passwords, tokens); its text would go to the model.',
      'a: share it this once · r: refuse',
    }
    -- secret: never auto-approved, not even by "accept all" or tools.auto_approve
    review.confirm(chat_id, 'quill: share ' .. rel .. ' with the model?', lines, ctx, later(respond, function(choice)
      if choice == 'accept' then
        go()
      else
        summaries[chat_id] = 'refused'
        respond(failed('the user refused to share this file'))
      end
    end), { secret = true })
  end)
end

function M.read_file(params, respond, ctx)
  local path = check_string(params, 'path', true)
  local first = check_int(params, 'startLine') or 1
  local last = check_int(params, 'endLine')
  if last and last < first then
    error(bad_params("'endLine' must not be less than 'startLine'"), 0)
  end
  local chat_id = params.chatId or ''
  local real, rel = resolve_or_throw(path)
  with_consent(chat_id, rel, real, ctx, respond, later(respond, function()
    local _, text, partial = text_of(path, real)
    local max = config.get().tools.max_read_bytes
    local range, to_end = line_range(text, first, last)
    local content, truncated = cap(range, max)
    -- a range running into the part of a huge file that was never read is cut too
    local unread = partial == true and to_end
    truncated = truncated or unread
    -- the answer must be valid UTF-8 (a Latin-1 file, raw bytes in a buffer)
    local replaced
    content, replaced = workspace.to_utf8(content)
    if #content > max then
      content = cap(content, max)
      truncated = true
    end
    local summary = plural(count_lines(content), 'line')
    if replaced > 0 then
      summary = summary .. ', invalid UTF-8 replaced'
    end
    if unread then
      summary = summary .. (', truncated (only the first %d MiB of the file are read)'):format(MAX_DISK_READ / 1048576)
    elseif truncated then
      summary = summary .. ', truncated'
    end
    summaries[chat_id] = summary
    respond(nil, { content = content, truncated = truncated })
  end))
end

-- editor/listFiles -------------------------------------------------------------

M.glob = workspace.glob

-- Run step() until it returns true, then done(): in slices of at most M.slice_ns, the
-- loop running between them (a timer, not vim.schedule: scheduled callbacks queued by
-- a scheduled callback run in the same turn, with no timer or input between them).
local function sliced(ctx, respond, step, done)
  local function slice()
    if ctx.cancelled() then
      return
    end
    local deadline = uv.hrtime() + M.slice_ns
    repeat
      if step() then
        done()
        return
      end
    until uv.hrtime() > deadline
    vim.defer_fn(later(respond, slice), 0)
  end
  slice()
end

-- The names in `git ls-files -z` output, one per call (nil at the end); a name not
-- ended by NUL was cut and is dropped.
local function git_names(out)
  local pos = 1
  return function()
    local nul = out:find('\0', pos, true)
    while nul == pos do -- an empty name
      pos = pos + 1
      nul = out:find('\0', pos, true)
    end
    if not nul then
      return nil
    end
    local name = out:sub(pos, nul - 1)
    pos = nul + 1
    return name
  end
end

-- The files under `root` (no .git, no symlinks), one directory entry per call: a
-- file's relative name, false for any other entry, nil at the end; `stopped()` says
-- the walk gave up at walk_max_entries.
local function tree_walker(root)
  local stack, visited, stopped = { { dir = root, prefix = '' } }, 0, false
  local function next_entry()
    local top = stack[#stack]
    if not top then
      return nil
    end
    if top.handle == nil then
      top.handle = uv.fs_scandir(top.dir) or false
    end
    local name, kind
    if top.handle then
      name, kind = uv.fs_scandir_next(top.handle)
    end
    if not name then
      table.remove(stack)
      return false
    end
    visited = visited + 1
    if visited > M.walk_max_entries then
      stack, stopped = {}, true
      return nil
    end
    local rel = top.prefix .. name
    if kind ~= 'file' and kind ~= 'directory' and kind ~= 'link' then
      local st = uv.fs_lstat(top.dir .. '/' .. name)
      kind = st and st.type
    end
    if kind == 'directory' then
      if name:lower() ~= '.git' then
        table.insert(stack, { dir = top.dir .. '/' .. name, prefix = rel .. '/' })
      end
      return false
    end
    return kind == 'file' and rel
  end
  return next_entry, function()
    return stopped
  end
end

-- The `max` smallest strings of those pushed (a max-heap: many matches are never
-- sorted whole); sorted() gives them in order and whether any was left out.
local function smallest(max)
  local heap, n, more = {}, 0, false
  local function swap(i, j)
    heap[i], heap[j] = heap[j], heap[i]
  end
  local function push(s)
    if n < max then
      n = n + 1
      heap[n] = s
      local i = n
      while i > 1 and heap[math.floor(i / 2)] < heap[i] do
        swap(i, math.floor(i / 2))
        i = math.floor(i / 2)
      end
      return
    end
    more = true
    if s >= heap[1] then
      return
    end
    heap[1] = s
    local i = 1
    while true do
      local l, r, big = 2 * i, 2 * i + 1, i
      if l <= n and heap[l] > heap[big] then
        big = l
      end
      if r <= n and heap[r] > heap[big] then
        big = r
      end
      if big == i then
        return
      end
      swap(i, big)
      i = big
    end
  end
  local function sorted()
    table.sort(heap)
    return heap, more
  end
  return push, sorted
end
M._smallest = smallest

-- The pattern as a relative glob, or an error for the model.
local function check_pattern(pattern)
  local problem = workspace.text_problem(pattern)
  if problem then
    error(failed(('pattern %s is refused: %s'):format(quote(pattern), problem)), 0)
  end
  if #pattern > MAX_PATTERN_BYTES then
    error(failed(('pattern is refused: it is %d bytes, longer than %d'):format(#pattern, MAX_PATTERN_BYTES)), 0)
  end
  local root = M.root()
  if pattern:sub(1, 1) == '/' or pattern:find('..', 1, true) then
    local full = workspace.normalize(pattern:sub(1, 1) == '/' and pattern or (root .. '/' .. pattern))
    if not workspace.inside(root, full) then
      error(failed(('pattern %s is outside the workspace'):format(quote(pattern))), 0)
    end
    pattern = full:sub(#root + 2)
  end
  return pattern
end

function M.list_files(params, respond, ctx)
  local pattern = params.pattern
  if pattern == vim.NIL then
    pattern = nil
  end
  if pattern ~= nil and type(pattern) ~= 'string' then
    error(bad_params("'pattern' must be a string"), 0)
  end
  if pattern == '' then
    pattern = nil
  end
  pattern = pattern and check_pattern(pattern)
  local chat_id = params.chatId or ''
  local root = M.root()
  local match = pattern and M.glob(pattern) or function()
    return true
  end
  local sensitive = workspace.sensitive_matcher()
  local push, sorted = smallest(config.get().tools.max_files)
  -- filter before sorting: only matches are kept, and the cap applies to them
  local function keep(rel, known_file)
    -- a name that is not text could not be asked for anyway (and would break the frame)
    if match(rel) and not workspace.text_problem(rel) and not sensitive(rel) then
      local stat = not known_file and uv.fs_lstat(root .. '/' .. rel) -- git lists deleted and symlinked paths
      if known_file or (stat and stat.type == 'file') then
        push(rel)
      end
    end
  end
  -- `stopped`: git's output was cut or the walk gave up, so there may be more
  local function finish(stopped)
    local files, more = sorted()
    local truncated = more or stopped
    summaries[chat_id] = plural(#files, 'file') .. (truncated and ', truncated' or '')
    respond(nil, { files = files, truncated = truncated })
  end
  local function walk()
    local next_entry, stopped = tree_walker(root)
    sliced(ctx, respond, function()
      local rel = next_entry()
      if rel == nil then
        return true
      end
      if rel then
        keep(rel, true)
      end
    end, function()
      finish(stopped())
    end)
  end
  -- tracked + untracked, minus ignored; without git (not a work tree, no git, a
  -- timeout) the tree is walked
  workspace.git(root, { 'ls-files', '--cached', '--others', '--exclude-standard', '-z' }, later(respond, function(code, out, cut)
    if ctx.cancelled() then
      return
    end
    if code ~= 0 then
      walk()
      return
    end
    local next_name = git_names(out)
    sliced(ctx, respond, function()
      local rel = next_name()
      if not rel then
        return true
      end
      keep(rel, false)
    end, function()
      finish(cut)
    end)
  end))
end

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
  local git_dir = workspace.git_dir_above(real, M.root())
  if git_dir then
    error(failed(('%s is inside the git directory %s; quill never writes there'):format(
      quote(path), quote(git_dir == M.root() and '.' or git_dir:sub(#M.root() + 2)))), 0)
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

-- #file:PATH in a prompt (context.lua) ------------------------------------------------

-- The text of workspace file `path` for an attachment the user typed: confined like read_file,
-- files on the deny list or under .git refused (the user may read them there; quill does not
-- send them), its loaded buffer's text when it has one; at most `limit` bytes read from disk.
-- Returns { rel, text, unsaved } or nil and why not.
function M.attachment_text(path, limit)
  local real, rel = M.resolve(path)
  if not real then
    return nil, type(rel) == 'table' and tostring(rel.message) or tostring(rel)
  end
  local reason = workspace.sensitive(rel)
  if reason then
    return nil, rel .. ' is ' .. reason
  end
  local okay, buf, text = pcall(text_of, path, real, nil, math.min(limit or MAX_DISK_READ, MAX_DISK_READ))
  if not okay then
    return nil, type(buf) == 'table' and tostring(buf.message) or tostring(buf)
  end
  return { rel = rel, text = workspace.to_utf8(text), unsaved = buf ~= nil and vim.bo[buf].modified }
end

-- Registration ----------------------------------------------------------------------

M.handlers = {
  ['editor/readFile'] = guarded(M.read_file),
  ['editor/listFiles'] = guarded(M.list_files),
  ['editor/applyEdit'] = guarded(M.apply_edit),
  ['editor/createFile'] = guarded(M.create_file),
}

function M.register()
  if registered then
    return
  end
  registered = true
  for method, fn in pairs(M.handlers) do
    backend.on_request(method, fn)
  end
end

-- The one-line summary of the last result for `chat_id` (consumed).
function M.take_summary(chat_id)
  local s = summaries[chat_id]
  summaries[chat_id] = nil
  return s
end

M.confirm = review.confirm
M.current_prompt = review.current_prompt
M.forget = review.forget

return M
