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
local config = require('quill.config')
local review = require('quill.review')
local workspace = require('quill.workspace')
local uv = vim.uv or vim.loop

local M = {}

local api = vim.api

local TOOL_FAILED = backend.errors.ToolFailed
local INVALID_PARAMS = backend.errors.InvalidParams
local BINARY_PROBE = 8192 -- a NUL byte in this many leading bytes means binary
local MAX_DISK_READ = 64 * 1024 * 1024 -- never slurp more than this from disk
local MAX_PATTERN_BYTES = 512 -- list_files refuses longer patterns

-- list_files without git walks the tree in slices of this many entries (the loop stays
-- free between them) and stops after walk_max_entries (the listing is then truncated).
M.walk_slice = 2000
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

-- Lines first..last (1-based, inclusive, clipped) of `text`, with their newlines.
local function line_range(text, first, last)
  if first <= 1 and not last then
    return text
  end
  local pos, line, start_pos = 1, 1, nil
  if first <= 1 then
    start_pos = 1
  end
  while line < first do
    local nl = text:find('\n', pos, true)
    if not nl or nl == #text then
      return ''
    end
    pos = nl + 1
    line = line + 1
  end
  start_pos = start_pos or pos
  if not last then
    return text:sub(start_pos)
  end
  while line <= last do
    local nl = text:find('\n', pos, true)
    if not nl then
      return text:sub(start_pos)
    end
    pos = nl + 1
    line = line + 1
  end
  return text:sub(start_pos, pos - 1)
end
M._line_range = line_range

-- Cut `text` to `max` bytes: at the last newline if there is one in the
-- second half, else on a UTF-8 boundary.
local function cap(text, max)
  if #text <= max then
    return text, false
  end
  local cut = text:sub(1, max)
  local nl = cut:match('.*()\n')
  if nl and nl > max / 2 then
    return cut:sub(1, nl), true
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
-- text, or nil and the text on disk. Errors the model can read for anything that is not a
-- readable text file; `missing` ends the not-found message.
local function text_of(path, real, missing)
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
  local data, err = read_disk(real)
  if not data then
    error(failed(("cannot read '%s': %s"):format(path, tostring(err))), 0)
  end
  if is_binary(data) then
    error(failed(("'%s' is a binary file"):format(path)), 0)
  end
  return nil, data
end

-- Ask before anything sensitive (under .git, on tools.deny, ignored by git) reaches the
-- model; go() runs when it may. A refusal is the answer the model reads.
local function with_consent(chat_id, rel, ctx, respond, go)
  local function decide(reason)
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
  end
  local reason = workspace.sensitive(rel)
  if reason or rel == '.' then
    decide(reason)
    return
  end
  workspace.git(M.root(), { 'check-ignore', '-q', '--', rel }, later(respond, function(code)
    if not ctx.cancelled() then
      decide(code == 0 and 'ignored by git' or nil)
    end
  end))
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
  with_consent(chat_id, rel, ctx, respond, later(respond, function()
    local _, text = text_of(path, real)
    local max = config.get().tools.max_read_bytes
    local content, truncated = cap(line_range(text, first, last), max)
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
    if truncated then
      summary = summary .. ', truncated'
    end
    summaries[chat_id] = summary
    respond(nil, { content = content, truncated = truncated })
  end))
end

-- editor/listFiles -------------------------------------------------------------

M.glob = workspace.glob

-- Workspace files from git (tracked + untracked, minus ignored): cb(files, cut), or
-- cb(nil) when git fails (not a work tree, no git, a timeout).
local function git_files(root, cb)
  workspace.git(root, { 'ls-files', '--cached', '--others', '--exclude-standard', '-z' }, function(code, out, cut)
    if code ~= 0 then
      cb(nil)
      return
    end
    if cut then
      out = out:match('^(.*)%z') or '' -- drop the name cut in the middle
    end
    local files = {}
    for name in out:gmatch('[^%z]+') do
      table.insert(files, name)
    end
    cb(files, cut)
  end)
end

-- The files under `root` (no .git, no symlinks), walked a slice at a time:
-- cb(files, stopped) where stopped says the walk gave up at walk_max_entries; an
-- error answers `respond`.
local function walk_files(root, ctx, respond, cb)
  local files, visited = {}, 0
  local stack = { { dir = root, prefix = '' } }
  local function step()
    if ctx.cancelled() then
      return
    end
    local budget = M.walk_slice
    while #stack > 0 and budget > 0 do
      local top = stack[#stack]
      if top.handle == nil then
        top.handle = uv.fs_scandir(top.dir) or false
      end
      local name, kind
      if top.handle then
        name, kind = uv.fs_scandir_next(top.handle)
      end
      if not name then
        table.remove(stack)
      else
        budget = budget - 1
        visited = visited + 1
        if visited > M.walk_max_entries then
          cb(files, true)
          return
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
        elseif kind == 'file' then
          table.insert(files, rel)
        end
      end
    end
    if #stack == 0 then
      cb(files, false)
    else
      vim.schedule(later(respond, step))
    end
  end
  step()
end

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
  local max = config.get().tools.max_files
  local match = pattern and M.glob(pattern) or function()
    return true
  end
  -- the cap applies to what matched; `stopped` (git or the walk gave up early) also
  -- means there may be more
  local function finish(candidates, stopped)
    table.sort(candidates)
    local files, truncated = {}, stopped
    for _, rel in ipairs(candidates) do
      local stat = uv.fs_lstat(root .. '/' .. rel) -- git lists deleted and symlinked paths
      if stat and stat.type == 'file' then
        if #files == max then
          truncated = true
          break
        end
        table.insert(files, rel)
      end
    end
    summaries[chat_id] = plural(#files, 'file') .. (truncated and ', truncated' or '')
    respond(nil, { files = files, truncated = truncated })
  end
  -- keep what matches, a slice at a time (the loop stays free on a big tree)
  local function filter(all, stopped)
    local sensitive = workspace.sensitive_matcher()
    local candidates, i = {}, 1
    local function step()
      if ctx.cancelled() then
        return
      end
      local stop = math.min(#all, i + M.walk_slice * 5)
      for k = i, stop do
        local rel = all[k]
        -- a name that is not text could not be asked for anyway (and would break the frame)
        if match(rel) and not workspace.text_problem(rel) and not sensitive(rel) then
          table.insert(candidates, rel)
        end
      end
      i = stop + 1
      if i > #all then
        finish(candidates, stopped)
      else
        vim.schedule(later(respond, step))
      end
    end
    step()
  end
  git_files(root, later(respond, function(files, cut)
    if ctx.cancelled() then
      return
    end
    if files then
      filter(files, cut)
    else
      walk_files(root, ctx, respond, later(respond, filter))
    end
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

-- The unified diff of `old` -> `new` (whole texts), headed for `rel`. `offset` is
-- added to the line numbers of each @@ header (a diff of a region of the file).
local function unified(old, new, rel, offset)
  local diff = vim.diff(old, new, { result_type = 'unified', ctxlen = 3 })
  local lines = { '--- a/' .. rel, '+++ b/' .. rel }
  for _, l in ipairs(split(diff)) do
    if offset and offset > 0 then
      l = l:gsub('^@@ %-(%d+)(,?%d*) %+(%d+)', function(a, count, b)
        return ('@@ -%d%s +%d'):format(tonumber(a) + offset, count, tonumber(b) + offset)
      end)
    end
    table.insert(lines, l)
  end
  if lines[#lines] == '' then
    table.remove(lines)
  end
  return lines
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

local function refuse_git_write(path, rel)
  if workspace.in_git_dir(rel) then
    error(failed(('%s is inside .git; quill never writes there'):format(quote(path))), 0)
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

function M.apply_edit(params, respond, ctx)
  local path = check_string(params, 'path', true)
  local old = check_string(params, 'oldText', true)
  local new = check_string(params, 'newText', false)
  local chat_id = params.chatId or ''
  local real, rel = resolve_or_throw(path)
  refuse_git_write(path, rel)
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
  review.confirm(chat_id, 'quill: edit ' .. rel .. '?', hunk_diff(text, s, e, new, rel), ctx, later(respond, function(choice)
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
    replace(buf, text, s, e, new)
    local msg = ('edited %s (%s replaced by %d)'):format(rel, plural(count_lines(old), 'line'), count_lines(new))
    msg = save_if_configured(buf, real, msg)
    summaries[chat_id] = ('%s replaced by %d'):format(plural(count_lines(old), 'line'), count_lines(new))
    respond(nil, { applied = true, message = msg })
  end))
end

-- editor/createFile ---------------------------------------------------------------

function M.create_file(params, respond, ctx)
  local path = check_string(params, 'path', true)
  local content = check_string(params, 'content', false)
  local chat_id = params.chatId or ''
  local real, rel = resolve_or_throw(path)
  refuse_git_write(path, rel)
  local function exists(where)
    return uv.fs_lstat(where) ~= nil or find_buffer(where) ~= nil
  end
  if exists(real) then
    error(failed(("'%s' already exists; use edit_file to change it"):format(path)), 0)
  end
  local lines = split(content)
  local eol = false
  if #lines > 1 and lines[#lines] == '' then
    table.remove(lines)
    eol = true
  end
  local preview = unified('', content, rel)
  preview[1] = '--- /dev/null'
  review.confirm(chat_id, 'quill: create ' .. rel .. '?', preview, ctx, later(respond, function(choice)
    if choice ~= 'accept' then
      summaries[chat_id] = 'rejected'
      respond(nil, { created = false, message = 'the user rejected creating this file' })
      return
    end
    -- the tree may have changed while the review was open (a parent swapped for a
    -- symlink): resolve and confine again, and write only where the user agreed to
    local now = resolve_or_throw(path)
    if now ~= real then
      respond(failed(('%s now resolves to another place than the one reviewed; nothing was created'):format(quote(path))))
      return
    end
    if exists(real) then
      respond(failed(("'%s' was created meanwhile"):format(path)))
      return
    end
    local buf = vim.fn.bufadd(real)
    vim.fn.bufload(buf)
    vim.bo[buf].buflisted = true
    api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].eol = eol or content == ''
    local msg = ('created %s (%s)'):format(rel, plural(count_lines(content), 'line'))
    msg = save_if_configured(buf, real, msg)
    summaries[chat_id] = plural(count_lines(content), 'line')
    respond(nil, { created = true, message = msg })
  end))
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
