-- The editor side of tool calls: the backend's `editor/*` requests (read here; list in
-- tools_list.lua; edit and create in tools_edit.lua), their registration and the helpers they
-- share; changes and secret reads are asked about through quill.review.
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

-- What tools_list.lua and tools_edit.lua share with the readers here.
M.lib = {
  failed = failed,
  bad_params = bad_params,
  quote = quote,
  cap = cap,
  later = later,
  plural = plural,
  summaries = summaries,
  buffer_text = buffer_text,
  check_string = check_string,
  count_lines = count_lines,
  find_buffer = find_buffer,
  resolve_or_throw = resolve_or_throw,
  sensitive_reason = sensitive_reason,
  text_of = text_of,
  MAX_PATTERN_BYTES = MAX_PATTERN_BYTES,
  DIFF_MAX_BYTES = DIFF_MAX_BYTES,
}

-- editor/listFiles, editor/applyEdit, editor/createFile (tools_list.lua, tools_edit.lua)
M.glob = workspace.glob
function M.list_files(...)
  return require('quill.tools_list').list_files(...)
end
function M.apply_edit(...)
  return require('quill.tools_edit').apply_edit(...)
end
function M.create_file(...)
  return require('quill.tools_edit').create_file(...)
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
