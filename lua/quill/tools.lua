-- The editor side of tool calls: the backend's `editor/*` requests (read,
-- list, edit, create) and the accept/reject prompt for changes.
--
-- Safety: every path resolves (symlinks included) against the workspace root
-- and anything outside is refused before a byte is read or written. Refusals
-- are ToolFailed errors whose message the model reads as the tool result.
local backend = require('quill.backend')
local config = require('quill.config')
local uv = vim.uv or vim.loop

local M = {}

local api = vim.api

local TOOL_FAILED = backend.errors.ToolFailed
local INVALID_PARAMS = backend.errors.InvalidParams
local BINARY_PROBE = 8192 -- a NUL byte in this many leading bytes means binary
local MAX_DISK_READ = 64 * 1024 * 1024 -- never slurp more than this from disk

local accept_all = {} -- chatId -> true once the user chose "accept all"
local summaries = {} -- chatId -> one-line summary of the last result (for the chat block)
local prompts = {} -- confirmations waiting to be shown, the first one is on screen
local registered = false

local function failed(msg)
  return { code = TOOL_FAILED, message = msg }
end

local function bad_params(msg)
  return { code = INVALID_PARAMS, message = msg }
end

-- Paths ----------------------------------------------------------------------

local function realpath(path)
  return uv.fs_realpath(path)
end

-- The workspace root with symlinks resolved.
function M.root()
  local root = backend.workspace_root()
  return realpath(root) or root
end

local function split_path(path)
  local parts = {}
  for part in path:gmatch('[^/]+') do
    table.insert(parts, part)
  end
  return parts
end

-- Collapse `.` and `..` without touching the disk (the result is absolute).
local function normalize(path)
  local out = {}
  for _, part in ipairs(split_path(path)) do
    if part == '..' then
      table.remove(out)
    elseif part ~= '.' then
      table.insert(out, part)
    end
  end
  return '/' .. table.concat(out, '/')
end

local function inside(root, path)
  return path == root or path:sub(1, #root + 1) == root .. '/' or root == '/'
end

-- Resolve `path` (relative to the root, or absolute) to a real absolute path
-- inside the workspace. For a path that does not exist yet, its nearest
-- existing parent is resolved and the rest appended. Returns real, rel or
-- nil, error.
function M.resolve(path)
  if type(path) ~= 'string' or path == '' then
    return nil, bad_params("'path' must be a non-empty string")
  end
  local root = M.root()
  local full = path
  if full:sub(1, 1) == '~' then
    full = vim.fn.expand(full)
  end
  if full:sub(1, 1) ~= '/' then
    full = root .. '/' .. full
  end
  full = normalize(full)
  local rest = {}
  local probe = full
  local real = realpath(probe)
  while not real do
    if uv.fs_lstat(probe) then
      -- exists but cannot be resolved: a dangling or looping symlink
      return nil, failed(("path '%s' cannot be resolved (a broken symlink?)"):format(path))
    end
    local parent = vim.fn.fnamemodify(probe, ':h')
    table.insert(rest, 1, vim.fn.fnamemodify(probe, ':t'))
    if parent == probe then
      break
    end
    probe = parent
    real = realpath(probe)
  end
  if not real then
    return nil, failed(("path '%s' cannot be resolved"):format(path))
  end
  if #rest > 0 then
    real = (real == '/' and '' or real) .. '/' .. table.concat(rest, '/')
  end
  if not inside(root, real) then
    return nil, failed(("path '%s' is outside the workspace"):format(path))
  end
  local rel = real == root and '.' or real:sub(#root + 2)
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

-- Run fn(params, respond, ctx); an error table it throws becomes the answer.
local function guarded(fn)
  return function(params, respond, ctx)
    if type(params) ~= 'table' then
      respond(bad_params('params must be an object'))
      return
    end
    local ok, err = pcall(fn, params, respond, ctx or { on_cancel = function() end })
    if not ok then
      if type(err) == 'table' and err.code then
        respond(err)
      else
        respond({ code = backend.errors.InternalError, message = tostring(err) })
      end
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

function M.read_file(params, respond)
  local path = check_string(params, 'path', true)
  local first = check_int(params, 'startLine') or 1
  local last = check_int(params, 'endLine')
  if last and last < first then
    error(bad_params("'endLine' must not be less than 'startLine'"), 0)
  end
  local real = resolve_or_throw(path)
  local _, text = text_of(path, real)
  local content = line_range(text, first, last)
  local truncated
  content, truncated = cap(content, config.get().tools.max_read_bytes)
  local summary = plural(count_lines(content), 'line')
  if truncated then
    summary = summary .. ', truncated'
  end
  summaries[params.chatId or ''] = summary
  respond(nil, { content = content, truncated = truncated })
end

-- editor/listFiles -------------------------------------------------------------

-- A Lua pattern for one glob segment: `*` any run, `?` one character.
local function segment_pattern(seg)
  local out = { '^' }
  for ch in seg:gmatch('.') do
    if ch == '*' then
      table.insert(out, '.*')
    elseif ch == '?' then
      table.insert(out, '.')
    else
      table.insert(out, (ch:gsub('[%^%$%(%)%%%.%[%]%*%+%-%?]', '%%%0')))
    end
  end
  table.insert(out, '$')
  return table.concat(out)
end

-- A matcher for `pattern` over `/`-separated relative paths; `**` spans segments.
function M.glob(pattern)
  pattern = pattern:gsub('^%./', ''):gsub('/+', '/')
  if pattern:sub(-1) == '/' then
    pattern = pattern .. '**'
  end
  local segs = {}
  for _, seg in ipairs(split_path(pattern)) do
    table.insert(segs, seg == '**' and true or segment_pattern(seg))
  end
  local function match(parts, i, j)
    if j > #segs then
      return i > #parts
    end
    local seg = segs[j]
    if seg == true then
      for k = i, #parts + 1 do
        if match(parts, k, j + 1) then
          return true
        end
      end
      return false
    end
    if i > #parts or not parts[i]:find(seg) then
      return false
    end
    return match(parts, i + 1, j + 1)
  end
  return function(rel)
    return match(split_path(rel), 1, 1)
  end
end

-- Workspace files from git (tracked + untracked, minus ignored), or nil when
-- the root is not in a git work tree.
local function git_files(root)
  if vim.fn.executable('git') ~= 1 then
    return nil
  end
  local out = vim.fn.system({ 'git', '-C', root, 'ls-files', '--cached', '--others', '--exclude-standard', '-z' })
  if vim.v.shell_error ~= 0 then
    return nil
  end
  local files = {}
  -- system() turns the NUL separators into \1
  for name in out:gmatch('[^\1]+') do
    table.insert(files, name)
  end
  return files
end

local function walk_files(root, limit)
  local files = {}
  local function walk(dir, prefix)
    local handle = uv.fs_scandir(dir)
    if not handle then
      return
    end
    while #files < limit do
      local name, kind = uv.fs_scandir_next(handle)
      if not name then
        break
      end
      local rel = prefix .. name
      if kind == 'directory' then
        if name ~= '.git' then
          walk(dir .. '/' .. name, rel .. '/')
        end
      elseif kind == 'file' then
        table.insert(files, rel)
      end
    end
  end
  walk(root, '')
  return files
end

function M.list_files(params, respond)
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
  if pattern and (pattern:sub(1, 1) == '/' or pattern:find('%.%.')) then
    local full = pattern:sub(1, 1) == '/' and pattern or (M.root() .. '/' .. pattern)
    if not inside(M.root(), normalize(full)) then
      error(failed(("pattern '%s' is outside the workspace"):format(pattern)), 0)
    end
    pattern = normalize(full):sub(#M.root() + 2)
  end
  local root = M.root()
  local max = config.get().tools.max_files
  local all = git_files(root) or walk_files(root, 100000)
  local match = pattern and M.glob(pattern) or function()
    return true
  end
  local files = {}
  for _, rel in ipairs(all) do
    local first = rel:match('^[^/]+')
    if first ~= '.git' and not rel:find('/.git/', 1, true) and match(rel) then
      local stat = uv.fs_lstat(root .. '/' .. rel)
      if stat and stat.type == 'file' then
        table.insert(files, rel)
      end
    end
  end
  table.sort(files)
  local truncated = #files > max
  if truncated then
    files = { unpack(files, 1, max) }
  end
  summaries[params.chatId or ''] = plural(#files, 'file') .. (truncated and ', truncated' or '')
  respond(nil, { files = files, truncated = truncated })
end

-- Confirmation ------------------------------------------------------------------

local show_next

local function close_prompt(p)
  if p.closed then
    return
  end
  p.closed = true
  if p.win and api.nvim_win_is_valid(p.win) then
    api.nvim_win_close(p.win, true)
  end
  if p.buf and api.nvim_buf_is_valid(p.buf) then
    pcall(api.nvim_buf_delete, p.buf, { force = true })
  end
  if p.prev_win and api.nvim_win_is_valid(p.prev_win) then
    pcall(api.nvim_set_current_win, p.prev_win)
  end
end

-- Settle prompt `p` with `choice` ('accept', 'reject', 'all', 'cancel'), once.
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
  close_prompt(p)
  if choice == 'all' then
    accept_all[p.chat_id] = true
  end
  if choice ~= 'cancel' then
    local ok, err = pcall(p.on_choice, choice == 'all' and 'accept' or choice)
    if not ok then
      vim.notify('quill: ' .. tostring(err), vim.log.levels.ERROR)
    end
  end
  vim.schedule(show_next)
end

local function open_prompt(p)
  local buf = api.nvim_create_buf(false, true)
  p.buf = buf
  local help = 'a accept · r reject · A accept all in this chat · q reject'
  local lines = { p.title, help, '' }
  vim.list_extend(lines, p.lines)
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = 'diff'
  local width = math.max(40, math.min(vim.o.columns - 4, 100))
  local height = math.max(3, math.min(vim.o.lines - 4, #lines))
  p.prev_win = api.nvim_get_current_win()
  p.win = api.nvim_open_win(buf, true, {
    relative = 'editor',
    width = width,
    height = height,
    row = math.max(0, math.floor((vim.o.lines - height) / 2) - 1),
    col = math.max(0, math.floor((vim.o.columns - width) / 2)),
    style = 'minimal',
    border = 'rounded',
  })
  vim.wo[p.win].wrap = false
  local function key(lhs, choice)
    api.nvim_buf_set_keymap(buf, 'n', lhs, '', {
      noremap = true,
      nowait = true,
      silent = true,
      callback = function()
        decide(p, choice)
      end,
    })
  end
  key('a', 'accept')
  key('r', 'reject')
  key('A', 'all')
  key('q', 'reject')
  key('<Esc>', 'reject')
  -- closed some other way (:q, :bwipeout): a rejection
  api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      if not p.decided then
        vim.schedule(function()
          decide(p, 'reject')
        end)
      end
    end,
  })
end

show_next = function()
  local p = prompts[1]
  if p and not p.buf and not p.decided then
    open_prompt(p)
  end
end

-- Ask the user about a change, unless auto-approved. on_choice('accept'|'reject')
-- runs once; a cancel (ctx) closes the prompt without calling it.
function M.confirm(chat_id, title, lines, ctx, on_choice)
  if config.get().tools.auto_approve or accept_all[chat_id] then
    on_choice('accept')
    return
  end
  local p = { chat_id = chat_id, title = title, lines = lines, on_choice = on_choice }
  table.insert(prompts, p)
  ctx.on_cancel(function()
    decide(p, 'cancel')
  end)
  if #prompts == 1 then
    show_next()
  end
end

-- The prompt on screen (tests, statuslines).
function M.current_prompt()
  return prompts[1]
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

local function write_buffer(buf, real)
  vim.fn.mkdir(vim.fn.fnamemodify(real, ':h'), 'p')
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

local function unified(old, new, rel)
  local diff = vim.diff(old, new, { result_type = 'unified', ctxlen = 3 })
  local lines = { '--- a/' .. rel, '+++ b/' .. rel }
  for _, l in ipairs(split(diff)) do
    table.insert(lines, l)
  end
  if lines[#lines] == '' then
    table.remove(lines)
  end
  return lines
end

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

function M.apply_edit(params, respond, ctx)
  local path = check_string(params, 'path', true)
  local old = check_string(params, 'oldText', true)
  local new = check_string(params, 'newText', false)
  local chat_id = params.chatId or ''
  local real, rel = resolve_or_throw(path)
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
  local after = text:sub(1, s - 1) .. new .. text:sub(e)
  local tick = api.nvim_buf_get_changedtick(buf)
  M.confirm(chat_id, 'quill: edit ' .. rel .. '?', unified(text, after, rel), ctx, function(choice)
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
  end)
end

-- editor/createFile ---------------------------------------------------------------

function M.create_file(params, respond, ctx)
  local path = check_string(params, 'path', true)
  local content = check_string(params, 'content', false)
  local chat_id = params.chatId or ''
  local real, rel = resolve_or_throw(path)
  local function exists()
    return uv.fs_lstat(real) ~= nil or find_buffer(real) ~= nil
  end
  if exists() then
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
  M.confirm(chat_id, 'quill: create ' .. rel .. '?', preview, ctx, function(choice)
    if choice ~= 'accept' then
      summaries[chat_id] = 'rejected'
      respond(nil, { created = false, message = 'the user rejected creating this file' })
      return
    end
    if exists() then
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
  end)
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

-- Forget the "accept all" choice of a chat.
function M.forget(chat_id)
  accept_all[chat_id] = nil
end

return M
