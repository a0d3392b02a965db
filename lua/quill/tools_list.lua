-- editor/listFiles: the workspace's files matching a glob, from git when the workspace is a
-- repository (its ignores respected), else from a bounded walk of the tree; in slices that let
-- Neovim's loop run, answered once. See tools.lua for the rules every tool follows.
local config = require('quill.config')
local tools = require('quill.tools')
local workspace = require('quill.workspace')
local uv = vim.uv or vim.loop

local M = {}

local lib = tools.lib
local failed, bad_params, quote, cap = lib.failed, lib.bad_params, lib.quote, lib.cap
local later, plural, summaries = lib.later, lib.plural, lib.summaries
local MAX_PATTERN_BYTES = lib.MAX_PATTERN_BYTES

-- Run step() until it returns true, then done(): in slices of at most tools.slice_ns, the
-- loop running between them (a timer, not vim.schedule: scheduled callbacks queued by
-- a scheduled callback run in the same turn, with no timer or input between them).
local function sliced(ctx, respond, step, done)
  local function slice()
    if ctx.cancelled() then
      return
    end
    local deadline = uv.hrtime() + tools.slice_ns
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
    if visited > tools.walk_max_entries then
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
  local root = tools.root()
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
  local root = tools.root()
  local match = pattern and tools.glob(pattern) or function()
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

return M
