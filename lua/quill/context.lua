-- The editor's context in a prompt: `#buffer`, `#buffer:NAME`, `#selection`, `#diagnostics` and
-- `#file:PATH`, expanded when the prompt is sent into text the model reads after the question,
-- within one size budget (chat.max_context_bytes). The chat shows one compact line per
-- attachment; the conversation keeps what the model saw.
local config = require('quill.config')
local workspace = require('quill.workspace')

local M = {}

local trim_punctuation -- (below)

local api = vim.api
local uv = vim.uv or vim.loop

M.KINDS = { 'buffer', 'selection', 'diagnostics', 'file' }

-- The buffer the user came to the chat from -----------------------------------

local origin = nil -- the last file buffer left for another window or buffer

local function is_file_buffer(buf)
  return api.nvim_buf_is_valid(buf) and vim.bo[buf].buftype == '' and not api.nvim_buf_get_name(buf):find('^quill://')
end

api.nvim_create_autocmd({ 'WinLeave', 'BufLeave' }, {
  group = api.nvim_create_augroup('quill_context', { clear = true }),
  desc = 'quill: remember the buffer a chat question may attach (#buffer)',
  callback = function()
    local buf = api.nvim_get_current_buf()
    if is_file_buffer(buf) then
      origin = buf
    end
  end,
})

-- The buffer #buffer, #selection and #diagnostics mean: the current one when it is a file
-- buffer, else the one the user left last.
function M.origin()
  local buf = api.nvim_get_current_buf()
  if is_file_buffer(buf) then
    return buf
  end
  if origin and api.nvim_buf_is_valid(origin) then
    return origin
  end
  return nil
end

-- Finding the references -------------------------------------------------------

M.MAX_NAME = 4096

-- A sentence's full stop or comma after a name is not part of it. (Byte by byte: a pattern
-- anchored at the end is quadratic on a long run of punctuation.)
local TRAILING = { [46] = true, [44] = true, [59] = true, [58] = true, [33] = true, [63] = true, [41] = true }
trim_punctuation = function(name)
  local stop = #name
  while stop > 0 and TRAILING[name:byte(stop)] do
    stop = stop - 1
  end
  return name:sub(1, stop)
end

-- The references in `prompt`, in order, each once: { kind, arg?, token }.
function M.references(prompt)
  local refs, seen = {}, {}
  local at = 1
  while true do
    local s, e, kind = prompt:find('#(%a+)', at)
    if not s then
      break
    end
    at = e + 1
    local before = s == 1 and '' or prompt:sub(s - 1, s - 1)
    if before == '' or before:find('%s') then
      local arg = nil
      if (kind == 'buffer' or kind == 'file') and prompt:sub(e + 1, e + 1) == ':' then
        arg = prompt:match('^[^%s]+', e + 2)
        if arg then
          at = e + 2 + #arg
          arg = trim_punctuation(arg)
        end
        if arg == '' or (arg and #arg > M.MAX_NAME) then
          arg = nil -- (a "name" longer than any path is no reference)
        end
      end
      local token = '#' .. kind .. (arg and (':' .. arg) or '')
      if vim.tbl_contains(M.KINDS, kind) and not (kind == 'file' and not arg) and not seen[token] then
        seen[token] = true
        table.insert(refs, { kind = kind, arg = arg, token = token })
      end
    end
  end
  return refs
end

-- Reading them -----------------------------------------------------------------

-- A name as one line of plain text (a file name may hold a line break or an escape).
local function one_line(text)
  return (tostring(text):gsub('%c', '?'))
end

local function relative(buf)
  local name = api.nvim_buf_get_name(buf)
  if name == '' then
    return '[No Name ' .. buf .. ']'
  end
  return one_line(vim.fn.fnamemodify(name, ':~:.'))
end

local function lines_text(lines)
  return table.concat(lines, '\n')
end

local function find_buffer(name)
  local want = vim.fn.fnamemodify(name, ':p')
  local found = {}
  for _, b in ipairs(api.nvim_list_bufs()) do
    if is_file_buffer(b) and vim.bo[b].buflisted then
      local full = api.nvim_buf_get_name(b)
      if full == want or relative(b) == name or vim.fn.fnamemodify(full, ':t') == name then
        table.insert(found, b)
      end
    end
  end
  if #found == 1 then
    return found[1]
  end
  return nil, #found == 0 and ('no buffer ' .. name) or (('%d buffers are named %s'):format(#found, name))
end

local SEVERITY = { 'error', 'warning', 'info', 'hint' }

local function diagnostics_text(buf)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    local msg = tostring(d.message):gsub('%s*\n%s*', ' ')
    table.insert(out, ('line %d: %s: %s%s'):format(d.lnum + 1, SEVERITY[d.severity] or 'note', msg,
      d.source and (' (' .. tostring(d.source) .. ')') or ''))
  end
  return out
end

-- One attachment: { label (compact line), title (what the model reads above it), text,
-- lang (fence) } or { label = … problem }.
local function read(ref, opts)
  local buf = opts.origin
  local function need_origin()
    if not buf then
      return nil, 'no buffer to take it from (go to one, then back to the chat)'
    end
    return buf
  end
  if ref.kind == 'buffer' then
    local b, why
    if ref.arg then
      b, why = find_buffer(ref.arg)
    else
      b, why = need_origin()
    end
    if not b then
      return nil, why
    end
    local lines = api.nvim_buf_get_lines(b, 0, -1, false)
    local name = relative(b)
    return { what = 'buffer ' .. name, count = #lines, unit = 'line', text = lines_text(lines),
      lang = vim.bo[b].filetype, unsaved = vim.bo[b].modified }
  elseif ref.kind == 'selection' then
    local b, why = need_origin()
    if not b then
      return nil, why
    end
    local first, last
    if opts.range and opts.range_buf == b then
      first, last = opts.range[1], opts.range[2]
    else
      first, last = api.nvim_buf_get_mark(b, '<')[1], api.nvim_buf_get_mark(b, '>')[1]
      if first == 0 or last == 0 then
        return nil, 'nothing selected in ' .. relative(b)
      end
    end
    local lines = api.nvim_buf_get_lines(b, first - 1, last, false)
    return { what = ('selection %s:%d-%d'):format(relative(b), first, last), count = #lines, unit = 'line',
      text = lines_text(lines), lang = vim.bo[b].filetype }
  elseif ref.kind == 'diagnostics' then
    local b, why = need_origin()
    if not b then
      return nil, why
    end
    local lines = diagnostics_text(b)
    return { what = 'diagnostics of ' .. relative(b), count = #lines, unit = 'diagnostic',
      text = #lines > 0 and lines_text(lines) or '(none)', lang = '' }
  elseif ref.kind == 'file' then
    -- one more byte than the budget: a file that does not fit is seen to be cut
    local got, why = require('quill.tools').attachment_text(ref.arg, opts.budget + 1)
    if not got then
      return nil, why
    end
    if opts.seen[got.rel] then
      return nil, 'already attached'
    end
    opts.seen[got.rel] = true
    local text = got.text:gsub('\n$', '')
    local count = text == '' and 0 or select(2, text:gsub('\n', '')) + 1
    return { what = 'file ' .. one_line(got.rel), count = count, unit = 'line', text = text,
      lang = M.filetype_of(got.rel),
      unsaved = got.unsaved }
  end
end

-- The fence's language for a file name: Neovim's filetype (0.8+), else the extension.
function M.filetype_of(name)
  local match = vim.filetype and vim.filetype.match
  local okay, ft = false, nil
  if match and vim.fn.has('nvim-0.8') == 1 then
    okay, ft = pcall(match, { filename = name })
  end
  if okay and type(ft) == 'string' and ft ~= '' then
    return ft
  end
  return (name:match('%.([%w_+-]+)$') or '')
end

-- A fence longer than any run of backticks in `text`.
local function fence_for(text)
  local longest = 2
  for run in text:gmatch('`+') do
    longest = math.max(longest, #run)
  end
  return string.rep('`', longest + 1)
end

-- Cut `text` to at most `max` bytes: at a line end in the last half, else at a UTF-8 boundary.
-- (Scanning back byte by byte: a pattern like '.*()\n' is quadratic on a long line.)
local function cut(text, max)
  if #text <= max then
    return text, false
  end
  local byte = string.byte
  for nl = max + 1, math.floor(max / 2) + 1, -1 do
    if byte(text, nl) == 10 then
      return text:sub(1, nl - 1), true
    end
  end
  local stop = max
  while stop > 0 and byte(text, stop + 1) and byte(text, stop + 1) >= 0x80 and byte(text, stop + 1) < 0xC0 do
    stop = stop - 1
  end
  return text:sub(1, stop), true
end
M._cut = cut

local function plural(n, unit)
  return ('%d %s%s'):format(n, unit, n == 1 and '' or 's')
end

-- Expands the references in `prompt`. opts: { origin = buf, range = { first, last },
-- range_buf = buf }. Returns { content = what the model reads, labels = the chat's compact
-- lines }; without references, content is the prompt and labels is empty.
function M.expand(prompt, opts)
  opts = opts or {}
  local refs = M.references(prompt)
  if #refs == 0 then
    return { content = prompt, labels = {} }
  end
  local budget = config.get().chat.max_context_bytes
  local parts, labels = { prompt }, {}
  local seen = {} -- files attached, by workspace path
  for _, ref in ipairs(refs) do
    local got, why
    if budget <= 0 then
      why = 'chat.max_context_bytes is spent' -- nothing more is read
    else
      got, why = read(ref, { origin = opts.origin, range = opts.range, range_buf = opts.range_buf, budget = budget,
        seen = seen })
    end
    if not got then
      why = one_line(tostring(why):gsub('%s*\n%s*', ' '))
      table.insert(labels, ('# %s: not attached: %s'):format(one_line(ref.token:sub(2)), why))
      table.insert(parts, ('[%s: not attached: %s]'):format(ref.token, why))
    else
      local text, was_cut = cut(got.text, math.max(budget, 0))
      budget = budget - #text
      local label = ('# %s, %s'):format(got.what, plural(got.count, got.unit))
      if got.unsaved then
        label = label .. ', unsaved changes included'
      end
      local title = ('[%s: %s]'):format(ref.token, got.what)
      if was_cut then
        local note = ('cut at %d bytes (chat.max_context_bytes)'):format(#text)
        label = label .. ', ' .. note
        title = ('[%s: %s, %s]'):format(ref.token, got.what, note)
      end
      table.insert(labels, label)
      local fence = fence_for(text)
      table.insert(parts, ('%s\n%s%s\n%s\n%s'):format(title, fence, got.lang or '', text, fence))
    end
  end
  return { content = table.concat(parts, '\n\n'), labels = labels }
end

-- Completion in the chat buffer ('omnifunc') --------------------------------------

local function buffer_names()
  local names = {}
  for _, b in ipairs(api.nvim_list_bufs()) do
    if is_file_buffer(b) and vim.bo[b].buflisted and api.nvim_buf_get_name(b) ~= '' then
      table.insert(names, relative(b))
    end
  end
  return names
end

M.MAX_CANDIDATES = 200

-- The names in the workspace that complete `typed` (a path relative to the workspace root):
-- the entries of its directory, read with libuv. The text is never given to Vim's own file
-- completion, which expands `backticks` (a shell command) and wildcards (a walk of the disk).
function M.workspace_names(typed)
  local dir, prefix = typed:match('^(.*/)([^/]*)$')
  if not dir then
    dir, prefix = '', typed
  end
  local real = workspace.resolve(dir == '' and '.' or dir)
  local handle = real and uv.fs_scandir(real)
  local out = {}
  while handle and #out < M.MAX_CANDIDATES do
    local name, kind = uv.fs_scandir_next(handle)
    if not name then
      break
    end
    if name:sub(1, #prefix) == prefix and name ~= '.git' and not name:find('%c') then
      table.insert(out, dir .. name .. (kind == 'directory' and '/' or ''))
    end
  end
  table.sort(out)
  return out
end

-- The candidates for `base` (a word starting with '#').
function M.candidates(base)
  local out = {}
  local function add(word, menu)
    if word:sub(1, #base) == base then
      table.insert(out, { word = word, menu = menu })
    end
  end
  if base:find('^#buffer:') then
    for _, n in ipairs(buffer_names()) do
      add('#buffer:' .. n, 'buffer')
    end
  elseif base:find('^#file:') then
    for _, f in ipairs(M.workspace_names(base:sub(7))) do
      add('#file:' .. f, 'file')
    end
  else
    add('#buffer', 'the buffer you came from')
    add('#buffer:', 'a buffer by name')
    add('#selection', 'the last selection')
    add('#diagnostics', 'the diagnostics of the buffer')
    add('#file:', 'a file of the workspace')
  end
  return out
end

function M.omnifunc(findstart, base)
  if findstart == 1 then
    local line = api.nvim_get_current_line()
    local col = api.nvim_win_get_cursor(0)[2]
    local start = col
    while start > 0 and not line:sub(start, start):find('%s') do
      start = start - 1
    end
    if line:sub(start + 1, start + 1) ~= '#' then
      return -3 -- not a reference: no completion, no message
    end
    return start
  end
  return M.candidates(base)
end

return M
