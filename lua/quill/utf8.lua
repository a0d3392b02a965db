-- UTF-8 checks for text that crosses the wire. Pure: no editor state, safe in libuv callbacks.
-- ASCII runs are skipped in one tight loop each, so valid text costs little.
local M = {}

M.REPLACEMENT = '\239\191\189' -- U+FFFD

local byte, find = string.byte, string.find

-- Length of the well-formed UTF-8 sequence starting at byte `i` of `s`, or nil
-- (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, cut short).
function M.sequence_length(s, i)
  local c = byte(s, i)
  if c < 0x80 then
    return 1
  end
  local n, lo, hi = nil, 0x80, 0xBF -- lo, hi: the range allowed for the second byte
  if c >= 0xC2 and c <= 0xDF then
    n = 2
  elseif c >= 0xE0 and c <= 0xEF then
    n = 3
    lo = c == 0xE0 and 0xA0 or lo -- no overlong forms
    hi = c == 0xED and 0x9F or hi -- no surrogates
  elseif c >= 0xF0 and c <= 0xF4 then
    n = 4
    lo = c == 0xF0 and 0x90 or lo -- no overlong forms
    hi = c == 0xF4 and 0x8F or hi -- nothing above U+10FFFF
  else
    return nil
  end
  local b = byte(s, i + 1)
  if not b or b < lo or b > hi then
    return nil
  end
  for k = 2, n - 1 do
    b = byte(s, i + k)
    if not b or b < 0x80 or b > 0xBF then
      return nil
    end
  end
  return n
end

-- Position of the first byte >= 0x80 in `s` from `init`, or nil. Lua's pattern matcher
-- costs ~50 ns a byte here (a 4 MiB message: 200 ms); LuaJIT's FFI reads the bytes directly.
local first_non_ascii
local has_ffi, ffi = pcall(require, 'ffi')
if has_ffi then
  first_non_ascii = function(s, init)
    local bytes = ffi.cast('const uint8_t *', s) -- `s` stays referenced for the whole loop
    for i = init - 1, #s - 1 do
      if bytes[i] >= 0x80 then
        return i + 1
      end
    end
    return nil
  end
else
  first_non_ascii = function(s, init)
    return (find(s, '[\128-\255]', init))
  end
end

-- Position of the first byte of `s` (from `init`) that does not start a well-formed sequence.
function M.first_invalid(s, init)
  local i = first_non_ascii(s, init or 1)
  while i do
    local n = M.sequence_length(s, i)
    if not n then
      return i
    end
    i = first_non_ascii(s, i + n)
  end
  return nil
end

function M.valid(s)
  return M.first_invalid(s) == nil
end

-- `s` with each byte that does not start a well-formed sequence replaced by U+FFFD, and the
-- number replaced. Valid text is returned as it is.
function M.repair(s)
  local bad = M.first_invalid(s)
  if not bad then
    return s, 0
  end
  local out, last, count = {}, 1, 0
  while bad do
    out[#out + 1] = s:sub(last, bad - 1)
    out[#out + 1] = M.REPLACEMENT
    count = count + 1
    last = bad + 1
    bad = M.first_invalid(s, last)
  end
  out[#out + 1] = s:sub(last)
  return table.concat(out), count
end

return M
