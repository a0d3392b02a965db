-- JSON-RPC 2.0 with LSP base framing (Content-Length). Pure: no process, no
-- editor state, safe to call from libuv callbacks.
local utf8 = require('quill.utf8')

local M = {}

M.MAX_BODY = 64 * 1024 * 1024
-- Deepest nesting of arrays and objects in a message, as in the backend (protocol/README.md).
M.MAX_DEPTH = 256
-- Longest header section (terminator included), as in the backend.
M.MAX_HEADER = 8 * 1024

-- Case-insensitive "content-length:" for string.find; used to resynchronise.
local CL_PATTERN = '[Cc][Oo][Nn][Tt][Ee][Nn][Tt]%-[Ll][Ee][Nn][Gg][Tt][Hh]%s*:'
local CL_KEEP = #'content-length:' - 1

-- Frame one message table. Note: vim.json encodes an empty Lua table as `[]`;
-- pass vim.empty_dict() where an empty object is meant. Strings may hold any
-- bytes (a buffer with raw Latin-1, say); the backend refuses a body that is not
-- UTF-8, so each invalid byte becomes U+FFFD. JSON's own syntax is ASCII, so
-- repairing the body repairs exactly the strings in it.
function M.encode(msg)
  local body = utf8.repair(vim.json.encode(msg))
  return 'Content-Length: ' .. #body .. '\r\n\r\n' .. body
end

-- The outline of a JSON text, read without decoding it: the deepest nesting of
-- arrays and objects, the top-level `id` (an integer or a string without
-- escapes; nil if none) and whether the top level has a `method`. Linear; works
-- on text that is too deep, not UTF-8 or not JSON at all (best effort).
function M.outline(body)
  local find, byte, sub = string.find, string.byte, string.sub
  local depth, deepest, pos = 0, 0, 1
  local id, has_method
  while true do
    local s = find(body, '[%[%]{}"]', pos)
    if not s then
      break
    end
    local c = byte(body, s)
    if c == 34 then -- a string: skip it, escapes included
      local e, backslashes = s, 0
      repeat -- the closing quote: one not preceded by an odd run of backslashes
        e = find(body, '"', e + 1, true)
        if not e then
          return deepest, id, has_method -- unterminated
        end
        backslashes = 0
        while byte(body, e - 1 - backslashes) == 92 do
          backslashes = backslashes + 1
        end
      until backslashes % 2 == 0
      if depth == 1 and find(body, '^%s*:', e + 1) then -- a top-level key
        local key = sub(body, s + 1, e - 1)
        if key == 'method' then
          has_method = true
        elseif key == 'id' and id == nil then
          local num = body:match('^%s*:%s*(%-?%d+)%s*[,}]', e + 1)
          id = num and tonumber(num) or body:match('^%s*:%s*"([^"\\]*)"', e + 1)
        end
      end
      pos = e + 1
    else
      if c == 91 or c == 123 then
        depth = depth + 1
        if depth > deepest then
          deepest = depth
        end
      elseif depth > 0 then
        depth = depth - 1
      end
      pos = s + 1
    end
  end
  return deepest, id, has_method
end

-- Whether tables nest in `t` deeper than `limit` levels (`t` itself is level 1).
local function nests_deeper(t, limit)
  if limit <= 0 then
    return true
  end
  for _, v in pairs(t) do
    if type(v) == 'table' and nests_deeper(v, limit - 1) then
      return true
    end
  end
  return false
end

-- A decoded message table, or nil and why the body cannot be one. The depth is
-- measured on the tables, which costs far less than scanning the bytes.
local function decode_body(body)
  local bad = utf8.first_invalid(body)
  if bad then
    return nil, string.format('it is not valid UTF-8 (byte 0x%02X at %d)', body:byte(bad), bad)
  end
  local ok, msg = pcall(vim.json.decode, body)
  if not ok then
    if M.outline(body) > M.MAX_DEPTH then -- vim.json stops at 1000 levels
      return nil, 'it nests deeper than ' .. M.MAX_DEPTH .. ' levels'
    end
    return nil, 'it is not JSON: ' .. tostring(msg)
  elseif type(msg) ~= 'table' or not body:find('^%s*{') then -- vim.json gives arrays as tables too
    return nil, 'it is not a JSON object: ' .. body:sub(1, 80)
  elseif nests_deeper(msg, M.MAX_DEPTH) then
    return nil, 'it nests deeper than ' .. M.MAX_DEPTH .. ' levels'
  end
  return msg
end

local Decoder = {}
Decoder.__index = Decoder

-- Incremental decoder. Unconsumed bytes live in `buf` from index `pos`; newer
-- chunks wait in `pending` and are concatenated only when a header or body
-- needs them, so each byte is copied a bounded number of times.
function M.new_decoder(max_body)
  return setmetatable({
    max_body = max_body or M.MAX_BODY,
    buf = '',
    pos = 1,
    pending = {},
    pending_len = 0,
    state = 'header', -- header | body | skip | resync
    scanned = 0, -- header bytes (from pos) already searched for the blank line
    need = 0, -- body bytes (state body) or bytes to drop (state skip)
  }, Decoder)
end

function Decoder:available()
  return #self.buf - self.pos + 1 + self.pending_len
end

-- Move pending chunks into buf (drops the consumed prefix of buf).
function Decoder:consolidate()
  if self.pending_len == 0 then
    return
  end
  local parts = self.pending
  if self.pos <= #self.buf then
    table.insert(parts, 1, self.buf:sub(self.pos))
  end
  self.buf = table.concat(parts)
  self.pos = 1
  self.pending = {}
  self.pending_len = 0
end

-- Drop up to self.need bytes without storing them.
function Decoder:skip()
  local in_buf = #self.buf - self.pos + 1
  if in_buf >= self.need then
    self.pos = self.pos + self.need
    self.need = 0
    return true
  end
  self.need = self.need - in_buf
  self.buf, self.pos = '', 1
  local pending = self.pending
  local i = 1
  while i <= #pending and self.need > 0 do
    local chunk = pending[i]
    if #chunk <= self.need then
      self.need = self.need - #chunk
      self.pending_len = self.pending_len - #chunk
    else
      self.buf = chunk:sub(self.need + 1)
      self.pending_len = self.pending_len - #chunk
      self.need = 0
    end
    i = i + 1
  end
  self.pending = { unpack(pending, i) }
  return self.need == 0
end

-- Discard bytes up to the next "Content-Length:" (searching from pos + from).
function Decoder:resync(from)
  self:consolidate()
  local s = self.buf:find(CL_PATTERN, self.pos + from)
  if s then
    self.pos = s
    self.state = 'header'
    self.scanned = 0
    return true
  end
  -- Keep a tail that could be the start of a split "Content-Length:".
  local keep_from = math.max(self.pos + from, #self.buf - CL_KEEP + 1)
  self.buf, self.pos = self.buf:sub(keep_from), 1
  return false
end

-- Content-Length from a header block (without its blank line); nil, error if absent or bad.
local function content_length(block)
  local len
  for line in (block .. '\r\n'):gmatch('(.-)\r\n') do
    local name, value = line:match('^%s*([^:]-)%s*:%s*(.-)%s*$')
    if name and name:lower() == 'content-length' then
      if not value:match('^%d+$') or #value > 15 then
        return nil, 'bad Content-Length value ' .. string.format('%q', value)
      end
      len = tonumber(value)
    end
  end
  if not len then
    return nil, 'header block without Content-Length'
  end
  return len
end

-- Try to complete a header block; returns true when it made progress.
function Decoder:header(errors)
  self:consolidate()
  local from = self.pos + math.max(0, self.scanned - 3)
  local s = self.buf:find('\r\n\r\n', from, true)
  -- The header section, terminator included, may not exceed MAX_HEADER. Once
  -- MAX_HEADER bytes arrived without a terminator it cannot fit any more, so
  -- the verdict does not depend on how the bytes were split.
  if not s or s + 3 - self.pos + 1 > M.MAX_HEADER then
    local have = #self.buf - self.pos + 1
    if s or have >= M.MAX_HEADER then
      table.insert(errors, 'no end of header within ' .. M.MAX_HEADER .. ' bytes; resynchronising')
      self.state = 'resync'
      self.resync_from = 1
      return true
    end
    self.scanned = have
    return false
  end
  local len, err = content_length(self.buf:sub(self.pos, s - 1))
  if not len then
    table.insert(errors, err .. '; resynchronising')
    self.state = 'resync'
    self.resync_from = 1
    return true
  end
  self.pos = s + 4
  self.scanned = 0
  if len > self.max_body then
    table.insert(errors, 'message body of ' .. len .. ' bytes exceeds the limit of ' .. self.max_body .. '; skipped')
    self.state = 'skip'
  else
    self.state = 'body'
  end
  self.need = len
  return true
end

-- Feed bytes; returns the list of decoded messages, the list of errors
-- (strings, for the log) found in this call, and the list of bodies that framed
-- correctly but could not be decoded, as { id?, request, reason } (id and
-- request from M.outline: so the request they belong to can be failed). Each
-- list may be empty.
function Decoder:feed(chunk)
  local messages, errors, undecodable = {}, {}, {}
  if chunk and #chunk > 0 then
    table.insert(self.pending, chunk)
    self.pending_len = self.pending_len + #chunk
  end
  while true do
    local state = self.state
    if state == 'header' then
      if self:available() == 0 or not self:header(errors) then
        break
      end
    elseif state == 'body' then
      if self:available() < self.need then
        break
      end
      if #self.buf - self.pos + 1 < self.need then
        self:consolidate()
      end
      local body = self.buf:sub(self.pos, self.pos + self.need - 1)
      self.pos = self.pos + self.need
      self.need = 0
      self.state = 'header'
      local msg, why = decode_body(body)
      if msg then
        table.insert(messages, msg)
      else
        table.insert(errors, 'undecodable message: ' .. why)
        local _, id, has_method = M.outline(body)
        table.insert(undecodable, { id = id, request = has_method == true, reason = why })
      end
    elseif state == 'skip' then
      if not self:skip() then
        break
      end
      self.state = 'header'
    else -- resync
      local from = self.resync_from or 0
      self.resync_from = 0
      if not self:resync(from) then
        break
      end
    end
  end
  -- Drop the consumed prefix once nothing is pending, so buf does not pin memory.
  if self.pos > #self.buf and self.pending_len == 0 then
    self.buf, self.pos = '', 1
  end
  return messages, errors, undecodable
end

-- Bytes held by the decoder (for tests: skipped bodies must not be stored).
function Decoder:buffered()
  return #self.buf - self.pos + 1 + self.pending_len
end

return M
