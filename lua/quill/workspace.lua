-- The workspace: confinement of outside paths (a model's tool arguments, later prompt
-- attachments) to the workspace root, the rules for sensitive files, a linear-time glob
-- matcher and UTF-8 checks.
--
-- A path from outside is data: it is never given to Vim's expansion (`expand`, `glob`,
-- `fnamemodify` with `~`, backticks, `$VAR`) nor to a shell. It is checked for control
-- characters and invalid UTF-8, resolved against the root, normalised, resolved through
-- symlinks and confined, all with string code and libuv calls.
local backend = require('quill.backend')
local config = require('quill.config')
local uv = vim.uv or vim.loop

local M = {}

-- Text --------------------------------------------------------------------------

-- Length of the well-formed UTF-8 sequence starting at byte `i` of `s`, or nil.
local function utf8_len(s, i)
  local c = s:byte(i)
  if c < 0x80 then
    return 1
  end
  local n, min
  if c >= 0xC2 and c <= 0xDF then
    n, min = 2, 0x80
  elseif c >= 0xE0 and c <= 0xEF then
    n, min = 3, 0x800
  elseif c >= 0xF0 and c <= 0xF4 then
    n, min = 4, 0x10000
  else
    return nil
  end
  local cp = c % (2 ^ (7 - n))
  for k = 1, n - 1 do
    local b = s:byte(i + k)
    if not b or b < 0x80 or b > 0xBF then
      return nil
    end
    cp = cp * 64 + (b - 0x80)
  end
  if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then
    return nil -- overlong, out of range or a surrogate
  end
  return n
end

-- Calls visit(i, n) for each well-formed non-ASCII sequence (n bytes at i) and
-- visit(i, nil) for each invalid byte; ASCII runs are skipped with one find().
local function scan_non_ascii(s, visit)
  local i = s:find('[\128-\255]')
  while i do
    local n = utf8_len(s, i)
    if visit(i, n) then
      return
    end
    i = s:find('[\128-\255]', i + (n or 1))
  end
end

function M.valid_utf8(s)
  local valid = true
  scan_non_ascii(s, function(_, n)
    if not n then
      valid = false
      return true
    end
  end)
  return valid
end

-- `s` with each invalid byte replaced by U+FFFD; also the number replaced.
function M.to_utf8(s)
  local out, last, bad = {}, 1, 0
  scan_non_ascii(s, function(i, n)
    if not n then
      table.insert(out, s:sub(last, i - 1))
      table.insert(out, '\239\191\189')
      last = i + 1
      bad = bad + 1
    end
  end)
  if bad == 0 then
    return s, 0
  end
  table.insert(out, s:sub(last))
  return table.concat(out), bad
end

-- Why `s` cannot be a path or pattern (a control character: C0 with NUL and newline,
-- DEL, C1; or invalid UTF-8), or nil when it is fine.
function M.text_problem(s)
  local c0 = s:find('[%z\1-\31\127]')
  if c0 then
    return ('it contains a control character (byte 0x%02X)'):format(s:byte(c0))
  end
  local problem
  scan_non_ascii(s, function(i, n)
    if not n then
      problem = ('it is not valid UTF-8 (byte 0x%02X)'):format(s:byte(i))
    elseif n == 2 and s:byte(i) == 0xC2 and s:byte(i + 1) <= 0x9F then
      problem = ('it contains a control character (U+%04X)'):format(s:byte(i + 1))
    end
    return problem ~= nil
  end)
  return problem
end

-- `s` fit for a message: control characters and invalid bytes shown as \xNN.
function M.quote(s)
  local out = s:gsub('[%z\1-\31\127]', function(ch)
    return ('\\x%02X'):format(ch:byte())
  end)
  local parts, last = {}, 1
  scan_non_ascii(out, function(i, n)
    if not n or (n == 2 and out:byte(i) == 0xC2 and out:byte(i + 1) <= 0x9F) then
      table.insert(parts, out:sub(last, i - 1))
      for k = i, i + (n or 1) - 1 do
        table.insert(parts, ('\\x%02X'):format(out:byte(k)))
      end
      last = i + (n or 1)
    end
  end)
  table.insert(parts, out:sub(last))
  return "'" .. table.concat(parts) .. "'"
end

-- Paths ------------------------------------------------------------------------

function M.split(path)
  local parts = {}
  for part in path:gmatch('[^/]+') do
    table.insert(parts, part)
  end
  return parts
end

-- Collapse `.` and `..` without touching the disk (the result is absolute).
function M.normalize(path)
  local out = {}
  for _, part in ipairs(M.split(path)) do
    if part == '..' then
      table.remove(out)
    elseif part ~= '.' then
      table.insert(out, part)
    end
  end
  return '/' .. table.concat(out, '/')
end

-- The parent and the last component of a normalised absolute path.
function M.dirname(path)
  local parent = path:match('^(.*)/[^/]*$')
  return (parent == nil or parent == '') and '/' or parent
end

function M.basename(path)
  return path:match('[^/]*$')
end

function M.inside(root, path)
  return path == root or root == '/' or path:sub(1, #root + 1) == root .. '/'
end

-- The workspace root with symlinks resolved.
function M.root()
  local root = backend.workspace_root()
  return uv.fs_realpath(root) or root
end

-- Resolve `path` (relative to the root, or absolute) to a real absolute path inside
-- the workspace. For a path that does not exist yet, its nearest existing parent is
-- resolved and the rest appended. Returns real, rel or nil, message (for the model).
function M.resolve(path)
  local problem = M.text_problem(path)
  if problem then
    return nil, ('path %s is refused: %s'):format(M.quote(path), problem)
  end
  if path == '~' or path:sub(1, 2) == '~/' then
    return nil, ("path %s is refused: '~' is not expanded; use a path inside the workspace"):format(M.quote(path))
  end
  local root = M.root()
  local full = path:sub(1, 1) == '/' and path or root .. '/' .. path
  full = M.normalize(full)
  local rest = {}
  local probe = full
  local real = uv.fs_realpath(probe)
  while not real do
    if uv.fs_lstat(probe) then
      return nil, ('path %s cannot be resolved (a broken symlink?)'):format(M.quote(path))
    end
    if probe == '/' then
      break
    end
    table.insert(rest, 1, M.basename(probe))
    probe = M.dirname(probe)
    real = uv.fs_realpath(probe)
  end
  if not real then
    return nil, ('path %s cannot be resolved'):format(M.quote(path))
  end
  if #rest > 0 then
    real = (real == '/' and '' or real) .. '/' .. table.concat(rest, '/')
  end
  if not M.inside(root, real) then
    return nil, ('path %s is outside the workspace'):format(M.quote(path))
  end
  return real, real == root and '.' or real:sub(#root + 2)
end

-- Globs ------------------------------------------------------------------------

-- The characters of a UTF-8 string, one per entry.
local function chars(s)
  local out = {}
  for ch in s:gmatch('[%z\1-\127\194-\244][\128-\191]*') do
    table.insert(out, ch)
  end
  return out
end

-- Does segment pattern `p` (characters; `*` any run, `?` one character) match the
-- characters `s`? The two-pointer wildcard walk: O(#p * #s), no backtracking blow-up.
local function match_segment(p, s)
  local pi, si, star, mark = 1, 1, nil, 1
  while si <= #s do
    local pc = p[pi]
    if pc ~= nil and pc ~= '*' and (pc == '?' or pc == s[si]) then
      pi, si = pi + 1, si + 1
    elseif pc == '*' then
      star, mark = pi, si
      pi = pi + 1
    elseif star then
      mark = mark + 1
      pi, si = star + 1, mark
    else
      return false
    end
  end
  while p[pi] == '*' do
    pi = pi + 1
  end
  return pi > #p
end

-- Does `pattern` (no `?`) match `s`, bytewise? The same walk as match_segment: with
-- no `?`, bytes and characters give the same answer on valid UTF-8.
local function match_bytes(p, s)
  local pi, si, star, mark = 1, 1, nil, 1
  local np, ns = #p, #s
  while si <= ns do
    local pc = p:byte(pi)
    if pc ~= nil and pc ~= 42 and pc == s:byte(si) then
      pi, si = pi + 1, si + 1
    elseif pc == 42 then -- '*'
      star, mark = pi, si
      pi = pi + 1
    elseif star then
      mark = mark + 1
      pi, si = star + 1, mark
    else
      return false
    end
  end
  while p:byte(pi) == 42 do
    pi = pi + 1
  end
  return pi > np
end

-- A matcher for one path component (a file name) against glob `pattern` (no `/`).
-- The common shapes (literal, `abc*`, `*abc`) skip the general walk.
function M.name_matcher(pattern)
  local body = pattern:match('^([^*?]*)%*$')
  if body then
    return function(name)
      return name:sub(1, #body) == body
    end
  end
  body = pattern:match('^%*([^*?]*)$')
  if body then
    return function(name)
      return #name >= #body and name:sub(-#body) == body
    end
  end
  if not pattern:find('[*?]') then
    return function(name)
      return name == pattern
    end
  end
  if not pattern:find('?', 1, true) then
    return function(name)
      return match_bytes(pattern, name)
    end
  end
  local p = chars(pattern)
  return function(name)
    return match_segment(p, chars(name))
  end
end

-- A matcher for `pattern` over `/`-separated relative paths; `**` spans segments.
-- The path is run through the pattern as a set of states (an NFA), so the work is
-- at most (path segments x pattern segments) segment matches.
function M.glob(pattern)
  pattern = pattern:gsub('^%./', ''):gsub('/+', '/')
  if pattern:sub(-1) == '/' then
    pattern = pattern .. '**'
  end
  local segs = {}
  for _, seg in ipairs(M.split(pattern)) do
    table.insert(segs, seg == '**' and true or M.name_matcher(seg))
  end
  local n = #segs
  -- add the states reachable by letting `**` match no segment
  local function close(states)
    for j = 1, n do
      if states[j] and segs[j] == true then
        states[j + 1] = true
      end
    end
    return states
  end
  return function(rel)
    local states = close({ [1] = true })
    for part in rel:gmatch('[^/]+') do
      local nxt, any = {}, false
      for j = 1, n do
        if states[j] then
          if segs[j] == true then
            nxt[j], any = true, true
          elseif segs[j](part) then
            nxt[j + 1], any = true, true
          end
        end
      end
      if not any then
        return false
      end
      states = close(nxt)
    end
    return states[n + 1] == true
  end
end

-- Git ---------------------------------------------------------------------------------

M.git_timeout_ms = 10000 -- a git that hangs gives up here (tests shorten it)
M.git_max_output = 32 * 1024 * 1024 -- stdout kept from git; beyond it the output is cut

-- Run `git -C root <args>` asynchronously without any program the repository
-- could configure (fsmonitor, hooks). cb(code, stdout, cut) runs once on the main
-- loop: code is nil when git could not start or timed out; cut is true when stdout
-- went past git_max_output (git is then stopped).
function M.git(root, args, cb)
  local argv = { '-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null', '-C', root }
  vim.list_extend(argv, args)
  local stdout = uv.new_pipe(false)
  local chunks, size, cut, done = {}, 0, false, false
  local handle, timer
  local function finish(code)
    if done then
      return
    end
    done = true
    if timer then
      timer:stop()
      timer:close()
    end
    if not stdout:is_closing() then
      stdout:read_stop()
      stdout:close()
    end
    if handle and not handle:is_closing() then
      handle:close()
    end
    vim.schedule(function()
      cb(code, table.concat(chunks), cut)
    end)
  end
  local exited, eof, exit_code, timed_out = false, false, nil, false
  local function maybe_finish()
    -- after a timeout the exit is enough: a stray writer may keep the pipe open
    if exited and (eof or timed_out) then
      finish(not timed_out and exit_code or nil)
    end
  end
  handle = uv.spawn('git', { args = argv, stdio = { nil, stdout, nil }, hide = true }, function(code, signal)
    exited, exit_code = true, (signal == 0 or cut) and code or nil
    maybe_finish()
  end)
  if not handle then
    stdout:close()
    vim.schedule(function()
      cb(nil, '', false)
    end)
    return
  end
  stdout:read_start(function(err, data)
    if err or not data then
      eof = true
      maybe_finish()
      return
    end
    if cut then
      return
    end
    if size + #data > M.git_max_output then
      data = data:sub(1, M.git_max_output - size)
      cut = true
      handle:kill('sigkill')
    end
    size = size + #data
    table.insert(chunks, data)
  end)
  timer = uv.new_timer()
  timer:start(M.git_timeout_ms, 0, function()
    timed_out = true
    if not exited then
      handle:kill('sigkill') -- the exit callback then finishes
    end
    maybe_finish()
  end)
end

-- Sensitive paths -------------------------------------------------------------------

-- True when a component of `rel` is `.git` (any case: case-insensitive file systems).
function M.in_git_dir(rel)
  if not rel:lower():find('.git', 1, true) then
    return false
  end
  for _, part in ipairs(M.split(rel)) do
    if part:lower() == '.git' then
      return true
    end
  end
  return false
end

-- A function(rel) giving the tools.deny pattern that a component of `rel` matches
-- (case-insensitively), or nil. Build it once per listing: it compiles the patterns.
function M.deny_matcher(patterns)
  -- literal names in a set; `abc*` and `*abc` indexed by their first / last byte, so
  -- a name is checked against the few patterns that could match it
  local literal, by_first, by_last, general = {}, {}, {}, {}
  for _, pat in ipairs(patterns or config.get().tools.deny) do
    local low = pat:lower()
    local prefix = low:match('^([^*?]+)%*$')
    local suffix = low:match('^%*([^*?]+)$')
    if not low:find('[*?]') then
      literal[low] = literal[low] or pat
    elseif prefix then
      local b = prefix:byte(1)
      by_first[b] = by_first[b] or {}
      table.insert(by_first[b], { pat = pat, body = prefix })
    elseif suffix then
      local b = suffix:byte(-1)
      by_last[b] = by_last[b] or {}
      table.insert(by_last[b], { pat = pat, body = suffix })
    else
      table.insert(general, { pat = pat, match = M.name_matcher(low) })
    end
  end
  local function check(name)
    if literal[name] then
      return literal[name]
    end
    for _, c in ipairs(by_first[name:byte(1)] or {}) do
      if name:sub(1, #c.body) == c.body then
        return c.pat
      end
    end
    for _, c in ipairs(by_last[name:byte(-1)] or {}) do
      if #name >= #c.body and name:sub(-#c.body) == c.body then
        return c.pat
      end
    end
    for _, c in ipairs(general) do
      if c.match(name) then
        return c.pat
      end
    end
  end
  return function(rel)
    for part in rel:gmatch('[^/]+') do
      local pat = check(part:lower())
      if pat then
        return pat
      end
    end
    return nil
  end
end

-- A function(rel) saying why `rel` is sensitive without asking git (inside .git, on
-- the deny list), or nil.
function M.sensitive_matcher(patterns)
  local denied = M.deny_matcher(patterns)
  return function(rel)
    if M.in_git_dir(rel) then
      return 'inside .git'
    end
    local pat = denied(rel)
    if pat then
      return ("on the deny list ('%s')"):format(pat)
    end
    return nil
  end
end

function M.sensitive(rel)
  return M.sensitive_matcher()(rel)
end

return M
