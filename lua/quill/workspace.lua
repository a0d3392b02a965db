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
local utf8 = require('quill.utf8')
local uv = vim.uv or vim.loop

local M = {}

-- Text --------------------------------------------------------------------------

-- `s` is valid UTF-8 / `s` with each invalid byte replaced by U+FFFD and the number replaced.
M.valid_utf8 = utf8.valid
M.to_utf8 = utf8.repair

-- Why `s` cannot be a path or pattern (a control character: C0 with NUL and newline,
-- DEL, C1; or invalid UTF-8), or nil when it is fine.
function M.text_problem(s)
  local c0 = s:find('[%z\1-\31\127]')
  if c0 then
    return ('it contains a control character (byte 0x%02X)'):format(s:byte(c0))
  end
  local bad = utf8.first_invalid(s)
  if bad then
    return ('it is not valid UTF-8 (byte 0x%02X)'):format(s:byte(bad))
  end
  -- on valid UTF-8, 0xC2 is always a lead byte: U+0080-U+009F
  local c1 = s:find('\194[\128-\159]')
  if c1 then
    return ('it contains a control character (U+%04X)'):format(s:byte(c1 + 1))
  end
  return nil
end

-- `s` fit for a message: control characters and invalid bytes shown as \xNN.
function M.quote(s)
  local function hex(ch)
    return ('\\x%02X'):format(ch:byte())
  end
  -- C1 controls (valid two-byte sequences) as their two bytes
  local function plain(piece)
    return (piece:gsub('[%z\1-\31\127]', hex):gsub('\194[\128-\159]', function(c1)
      return hex(c1:sub(1, 1)) .. hex(c1:sub(2))
    end))
  end
  local parts, last = {}, 1
  local bad = utf8.first_invalid(s)
  while bad do
    table.insert(parts, plain(s:sub(last, bad - 1)))
    table.insert(parts, hex(s:sub(bad, bad)))
    last = bad + 1
    bad = utf8.first_invalid(s, last)
  end
  table.insert(parts, plain(s:sub(last)))
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

-- The number of characters of a UTF-8 string.
local function char_count(s)
  local _, continuation = s:gsub('[\128-\191]', '')
  return #s - continuation
end

-- A matcher for one path component (a file name) against glob `pattern` (no `/`).
-- The common shapes (literal, `abc*`, `*abc`, only `?` and `*`) skip the general walk.
function M.name_matcher(pattern)
  pattern = pattern:gsub('%*%*+', '*') -- `**` inside a segment is `*`
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
  if not pattern:find('[^*?]') then
    -- `?*?`: at least (or, without `*`, exactly) that many characters
    local _, need = pattern:gsub('%?', '')
    local exact = not pattern:find('*', 1, true)
    return function(name)
      local n = char_count(name)
      return n == need or (not exact and n > need)
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
-- The path is run through the pattern as a set of states (an NFA), and each distinct
-- segment pattern is tried at most once per path component, so the work per path is
-- at most (path components x distinct segments) segment matches plus the state steps.
function M.glob(pattern)
  pattern = pattern:gsub('^%./', ''):gsub('/+', '/')
  if pattern:sub(-1) == '/' then
    pattern = pattern .. '**'
  end
  local segs, matchers, index = {}, {}, {} -- segs[j]: true for `**`, else an index into matchers
  for _, seg in ipairs(M.split(pattern)) do
    if seg == '**' then
      if segs[#segs] ~= true then -- `**/**` is `**`
        table.insert(segs, true)
      end
    else
      if not index[seg] then
        table.insert(matchers, M.name_matcher(seg))
        index[seg] = #matchers
      end
      table.insert(segs, index[seg])
    end
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
      local nxt, any, seen = {}, false, {}
      for j = 1, n do
        if states[j] then
          local k = segs[j]
          if k == true then
            nxt[j], any = true, true
          else
            local hit = seen[k]
            if hit == nil then
              hit = matchers[k](part)
              seen[k] = hit
            end
            if hit then
              nxt[j + 1], any = true, true
            end
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

local MAX_STDERR = 4096 -- stderr kept from git (enough to tell why it failed)

-- Run `git -C root <args>` asynchronously without any program the repository
-- could configure (fsmonitor, hooks). cb(code, stdout, cut, stderr) runs once on the
-- main loop: code is nil when git could not start or timed out; cut is true when
-- stdout went past git_max_output (git is then stopped).
function M.git(root, args, cb)
  local argv = { '-c', 'core.fsmonitor=false', '-c', 'core.hooksPath=/dev/null', '-C', root }
  vim.list_extend(argv, args)
  local stdout = uv.new_pipe(false)
  local stderr = uv.new_pipe(false)
  local chunks, size, cut, done = {}, 0, false, false
  local err_text = ''
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
    for _, pipe in ipairs({ stdout, stderr }) do
      if not pipe:is_closing() then
        pipe:read_stop()
        pipe:close()
      end
    end
    if handle and not handle:is_closing() then
      handle:close()
    end
    vim.schedule(function()
      cb(code, table.concat(chunks), cut, err_text)
    end)
  end
  local exited, eof, exit_code, timed_out = false, false, nil, false
  local function maybe_finish()
    -- after a timeout the exit is enough: a stray writer may keep the pipe open
    if exited and (eof or timed_out) then
      finish(not timed_out and exit_code or nil)
    end
  end
  -- messages in English: M.ignored reads one
  local env = {}
  for k, v in pairs(vim.fn.environ()) do
    if k ~= 'LC_ALL' and k ~= 'LANGUAGE' then
      table.insert(env, k .. '=' .. v)
    end
  end
  table.insert(env, 'LC_ALL=C')
  handle = uv.spawn('git', { args = argv, env = env, stdio = { nil, stdout, stderr }, hide = true }, function(code, signal)
    exited, exit_code = true, (signal == 0 or cut) and code or nil
    maybe_finish()
  end)
  if not handle then
    stdout:close()
    stderr:close()
    vim.schedule(function()
      cb(nil, '', false, '')
    end)
    return
  end
  stderr:read_start(function(err, data)
    if not err and data and #err_text < MAX_STDERR then
      err_text = (err_text .. data):sub(1, MAX_STDERR)
    end
  end)
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

-- Is the file at `real` (absolute, resolved; it need not exist) ignored by the git
-- repository it lies in? cb('ignored' | 'not ignored' | 'unknown'). git runs from the
-- file's nearest existing directory, so a repository nested under the workspace (or
-- under a root that is no repository) decides for its own files; a file in no
-- repository is not ignored. The name is passed after `--` as `./name`: pathspec magic
-- (`:!x`, `:(top)x`) and leading dashes stay literal. Anything else git answers
-- (a timeout, an error, a crash) is 'unknown'.
function M.ignored(real, cb)
  local dir, name = M.dirname(real), M.basename(real)
  while dir ~= '/' do
    local st = uv.fs_stat(dir)
    if st and st.type == 'directory' then
      break
    end
    name = M.basename(dir) .. '/' .. name
    dir = M.dirname(dir)
  end
  M.git(dir, { 'check-ignore', '-q', '--', './' .. name }, function(code, _, _, err)
    if code == 0 then
      cb('ignored')
    elseif code == 1 or (code == 128 and err:find('not a git repository', 1, true)) then
      cb('not ignored')
    else
      cb('unknown')
    end
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

-- The nearest directory from dirname(`real`) up to `root` that is a git directory
-- whatever its name (a bare repository, `.git` renamed: a HEAD file with objects/
-- and refs/ beside it), or nil.
function M.git_dir_above(real, root)
  local dir = M.dirname(real)
  while M.inside(root, dir) do
    local head = uv.fs_stat(dir .. '/HEAD')
    if head and head.type == 'file' then
      local objects, refs = uv.fs_stat(dir .. '/objects'), uv.fs_stat(dir .. '/refs')
      if objects and objects.type == 'directory' and refs and refs.type == 'directory' then
        return dir
      end
    end
    if dir == root or dir == '/' then
      break
    end
    dir = M.dirname(dir)
  end
  return nil
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
