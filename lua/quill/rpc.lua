-- JSON-RPC 2.0 with LSP base framing (Content-Length). Pure: no process, no
-- editor state, safe to call from libuv callbacks.
local M = {}

M.MAX_BODY = 64 * 1024 * 1024
-- Longest header section (terminator included), as in the backend.
M.MAX_HEADER = 8 * 1024

-- Case-insensitive "content-length:" for string.find; used to resynchronise.
local CL_PATTERN = '[Cc][Oo][Nn][Tt][Ee][Nn][Tt]%-[Ll][Ee][Nn][Gg][Tt][Hh]%s*:'
local CL_KEEP = #'content-length:' - 1

-- Frame one message table. Note: vim.json encodes an empty Lua table as `[]`;
-- pass vim.empty_dict() where an empty object is meant.
function M.encode(msg)
  local body = vim.json.encode(msg)
  return 'Content-Length: ' .. #body .. '\r\n\r\n' .. body
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

-- Feed bytes; returns the list of decoded messages and the list of errors
-- (strings) found in this call. Both lists may be empty.
function Decoder:feed(chunk)
  local messages, errors = {}, {}
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
      local ok, msg = pcall(vim.json.decode, body)
      if not ok then
        table.insert(errors, 'body is not JSON: ' .. tostring(msg))
      elseif type(msg) ~= 'table' then
        table.insert(errors, 'body is not a JSON object: ' .. body:sub(1, 80))
      else
        table.insert(messages, msg)
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
  return messages, errors
end

-- Bytes held by the decoder (for tests: skipped bodies must not be stored).
function Decoder:buffered()
  return #self.buf - self.pos + 1 + self.pending_len
end

return M
