-- Conversations on disk: one JSON file per conversation under stdpath('data')/quill/chats/,
-- written whole to a temporary file and renamed over the old one (a crash leaves the old file or
-- the new one, never half of one). Writes run on libuv's thread pool: Neovim never waits for the
-- disk, except once at exit. The files are read back as foreign input (conversation.from_data).
local conversation = require('quill.conversation')

local M = {}

local uv = vim.uv or vim.loop

M.MAX_FILE_BYTES = 16 * 1024 * 1024 -- a bigger file is reported and skipped, never read
M.MAX_LISTED = 200 -- the newest files listed; older ones stay on disk

-- Where they live; tests point it elsewhere.
M.root = nil

function M.dir()
  return M.root or (vim.fn.stdpath('data') .. '/quill/chats')
end

function M.path(id)
  return M.dir() .. '/' .. id .. '.json'
end

local function ensure_dir()
  local dir = M.dir()
  if vim.fn.isdirectory(dir) == 0 then
    vim.fn.mkdir(dir, 'p', 448) -- 0700: conversations hold the user's code
  end
  return dir
end

local function say(msg)
  vim.schedule(function()
    vim.notify('quill: ' .. msg, vim.log.levels.WARN)
  end)
end

local writing = {} -- id -> true while a write runs
local pending = {} -- id -> the text to write once it is done (the newest only)
local deleted = {} -- id -> true: deleted while a write ran; that write's file goes too
local final = {} -- id -> true: written at exit; a write still in flight must not replace it
-- id -> the file as this Neovim last read or wrote it ({ sec, nsec, size }): a file that
-- differs was written by another Neovim since, and is not written over.
local stamps = {}

local function stamp_of(st)
  return st and { sec = st.mtime.sec, nsec = st.mtime.nsec, size = st.size } or nil
end

local function same_stamp(a, b)
  return a and b and a.sec == b.sec and a.nsec == b.nsec and a.size == b.size
end

-- Called as on_fork(c, old_id) when `c` was saved as a copy under a new id (its file had been
-- changed by another Neovim); the chat renames its buffer and says so.
M.on_fork = nil

-- (libuv callbacks may not call Vim functions: `file` is worked out before)
local function write_async(id, text, file)
  writing[id] = true
  local tmp = ('%s.%d.tmp'):format(file, uv.os_getpid())
  local function done(err)
    if err or final[id] then
      uv.fs_unlink(tmp, function() end)
    end
    if err then
      say(('could not save the chat %s: %s'):format(id, tostring(err)))
    end
    writing[id] = nil
    local next_text = pending[id]
    if next_text then
      pending[id] = nil
      write_async(id, next_text, file)
    end
  end
  uv.fs_open(tmp, 'w', 384, function(err, fd) -- 0600
    if err then
      return done(err)
    end
    uv.fs_write(fd, text, 0, function(werr, n)
      if not werr and n ~= #text then
        werr = 'short write'
      end
      uv.fs_fsync(fd, function()
        uv.fs_close(fd, function()
          if werr then
            return done(werr)
          end
          if final[id] then
            return done(nil) -- (the exit's own write is newer; the temporary file goes)
          end
          uv.fs_rename(tmp, file, function(rerr)
            if deleted[id] then
              deleted[id] = nil
              uv.fs_unlink(file, function() end)
              return done(rerr)
            end
            if rerr then
              return done(rerr)
            end
            uv.fs_stat(file, function(_, st)
              stamps[id] = stamp_of(st)
              done(nil)
            end)
          end)
        end)
      end)
    end)
  end)
end

-- The file's text, or nil after saying why it cannot be written (nested too deep to encode).
local function encode(c)
  local ok, text = pcall(vim.json.encode, conversation.to_data(c))
  if not ok then
    say(('could not save the chat %s: %s'):format(c.id, tostring(text):gsub('^.-:%d+: ', '')))
    return nil
  end
  return text
end

-- When the file of `c` was changed (or removed) by another Neovim since this one last read or
-- wrote it, `c` goes on under a new id: neither Neovim's turns are lost.
local function fork_if_changed_elsewhere(c)
  if writing[c.id] or pending[c.id] or not stamps[c.id] then
    return
  end
  if same_stamp(stamps[c.id], stamp_of(uv.fs_stat(M.path(c.id)))) then
    return
  end
  local old = c.id
  stamps[old] = nil
  c.id = conversation.new_id()
  if M.on_fork then
    M.on_fork(c, old)
  end
end

-- Save `c` soon (after the write in flight, if any). Nothing is written for an empty chat.
function M.save(c)
  if #c.history == 0 and not c.saved then
    return
  end
  c.saved = true
  ensure_dir()
  fork_if_changed_elsewhere(c)
  local text = encode(c)
  if not text then
    return
  end
  if writing[c.id] then
    pending[c.id] = text
  else
    write_async(c.id, text, M.path(c.id))
  end
end

-- Save `c` now, waiting for the disk (Neovim is exiting).
function M.save_now(c)
  if #c.history == 0 and not c.saved then
    return true
  end
  ensure_dir()
  if not writing[c.id] then
    fork_if_changed_elsewhere(c)
  end
  pending[c.id] = nil
  final[c.id] = true
  local file = M.path(c.id)
  local tmp = file .. '.exit.tmp'
  local text = encode(c)
  if not text then
    return false
  end
  local fd = uv.fs_open(tmp, 'w', 384)
  if not fd then
    return false
  end
  local n = uv.fs_write(fd, text, 0)
  uv.fs_fsync(fd)
  uv.fs_close(fd)
  if n ~= #text then
    uv.fs_unlink(tmp)
    return false
  end
  if uv.fs_rename(tmp, file) ~= true then
    return false
  end
  stamps[c.id] = stamp_of(uv.fs_stat(file))
  return true
end

-- Whether a write of `id` is still running (tests wait for it).
function M.busy(id)
  return writing[id] == true or pending[id] ~= nil
end

local function read_file(path, size)
  local fd = uv.fs_open(path, 'r', 0)
  if not fd then
    return nil
  end
  local text = uv.fs_read(fd, size, 0)
  uv.fs_close(fd)
  return text
end

-- The conversation saved as `id`, or nil and why not. `peek`: only to list it (this Neovim
-- does not take it up, so the file stays another Neovim's to change).
function M.load(id, peek)
  if not conversation.valid_id(id) then
    return nil, 'not a chat id'
  end
  local path = M.path(id)
  local st = uv.fs_stat(path)
  if not st or st.type ~= 'file' then
    return nil, 'no such saved chat'
  end
  if st.size > M.MAX_FILE_BYTES then
    return nil, ('%d bytes, more than %d'):format(st.size, M.MAX_FILE_BYTES)
  end
  local text = read_file(path, st.size)
  if not text then
    return nil, 'cannot be read'
  end
  local ok, data = pcall(vim.json.decode, text)
  if not ok then
    return nil, 'not JSON'
  end
  local c, why = conversation.from_data(data)
  if not c then
    return nil, why
  end
  if c.id ~= id then
    return nil, 'its id is ' .. c.id
  end
  c.saved = true
  if not peek then
    stamps[id] = stamp_of(st)
  end
  return c
end

local listed = {} -- id -> { stamp, c | why }: what the last listings read

-- The saved conversations, newest first (at most MAX_LISTED), and the files that were skipped,
-- each as "NAME: why".
function M.list()
  local dir = M.dir()
  local handle = uv.fs_scandir(dir)
  local files = {}
  while handle do
    local name, kind = uv.fs_scandir_next(handle)
    if not name then
      break
    end
    local id = name:match('^(.*)%.json$')
    if id and (kind == 'file' or kind == nil) then
      local st = uv.fs_stat(dir .. '/' .. name)
      if st then
        table.insert(files, { id = id, name = name, mtime = st.mtime.sec, stamp = stamp_of(st) })
      end
    end
  end
  table.sort(files, function(a, b)
    return a.mtime > b.mtime
  end)
  local found, skipped = {}, {}
  for i = 1, math.min(#files, M.MAX_LISTED) do
    local f = files[i]
    -- a file read for an earlier listing and not changed since is not read again
    local seen = listed[f.id]
    if not (seen and same_stamp(seen.stamp, f.stamp)) then
      local c, why = M.load(f.id, true)
      seen = { stamp = f.stamp, c = c, why = why }
      listed[f.id] = seen
    end
    local c, why = seen.c, seen.why
    if c then
      table.insert(found, c)
    else
      table.insert(skipped, files[i].name .. ': ' .. why)
    end
  end
  return found, skipped
end

-- Remove the saved file of `id`. Returns true, or nil and why not.
function M.delete(id)
  if not conversation.valid_id(id) then
    return nil, 'not a chat id'
  end
  pending[id] = nil
  stamps[id] = nil
  if writing[id] then
    deleted[id] = true
  end
  local ok, err = uv.fs_unlink(M.path(id))
  if not ok and not tostring(err):find('ENOENT') then
    return nil, err
  end
  return true
end

return M
