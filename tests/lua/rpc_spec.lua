-- quill.rpc: framing encoder and incremental decoder (pure, no process).
local h = require('harness')
local rpc = require('quill.rpc')
local uv = vim.uv or vim.loop

local eq, ok = h.eq, h.ok

local function frame(body, headers)
  return (headers or ('Content-Length: ' .. #body .. '\r\n')) .. '\r\n' .. body
end

local MESSAGES = {
  { jsonrpc = '2.0', id = 1, method = 'chat/send', params = { chatId = 'c1', text = 'héllo € 😀 "quoted"\n' } },
  { jsonrpc = '2.0', method = 'chat/token', params = { chatId = 'c1', text = 'ünïcödé' } },
  { jsonrpc = '2.0', id = 2, result = { models = { { name = 'llama3.2', size = 123 } } } },
}

local function stream_of(msgs)
  local parts = {}
  for _, m in ipairs(msgs) do
    table.insert(parts, rpc.encode(m))
  end
  return table.concat(parts)
end

-- Feed `chunks` in order; returns all messages and all errors.
local function feed_all(decoder, chunks)
  local msgs, errs = {}, {}
  for _, c in ipairs(chunks) do
    local m, e = decoder:feed(c)
    vim.list_extend(msgs, m)
    vim.list_extend(errs, e)
  end
  return msgs, errs
end

describe('rpc.encode', function()
  it('frames with the byte length of the UTF-8 body and round-trips', function()
    for _, msg in ipairs(MESSAGES) do
      local data = rpc.encode(msg)
      local len, body = data:match('^Content%-Length: (%d+)\r\n\r\n(.*)$')
      ok(len, 'header present in ' .. data)
      eq(#body, tonumber(len), 'Content-Length')
      eq(msg, vim.json.decode(body))
      local got, errs = rpc.new_decoder():feed(data)
      eq({ msg }, got)
      eq({}, errs)
    end
  end)

  it('encodes vim.empty_dict() as an object and vim.NIL as null', function()
    local data = rpc.encode({ jsonrpc = '2.0', id = 3, result = vim.NIL, params = vim.empty_dict() })
    local body = data:match('\r\n\r\n(.*)$')
    ok(body:find('"params":{}', 1, true), body)
    ok(body:find('"result":null', 1, true), body)
  end)
end)

describe('rpc decoder', function()
  it('yields identical messages for every split point of a 3-message stream', function()
    local stream = stream_of(MESSAGES)
    for i = 0, #stream do
      local msgs, errs = feed_all(rpc.new_decoder(), { stream:sub(1, i), stream:sub(i + 1) })
      eq({}, errs, 'errors at split ' .. i)
      eq(MESSAGES, msgs, 'messages at split ' .. i)
    end
  end)

  it('yields identical messages when fed one byte at a time and leaves nothing buffered', function()
    local stream = stream_of(MESSAGES)
    local d = rpc.new_decoder()
    local chunks = {}
    for i = 1, #stream do
      chunks[i] = stream:sub(i, i)
    end
    local msgs, errs = feed_all(d, chunks)
    eq({}, errs)
    eq(MESSAGES, msgs)
    eq(0, d:buffered())
  end)

  it('decodes several messages from one chunk in order', function()
    local d = rpc.new_decoder()
    local msgs, errs = d:feed(stream_of(MESSAGES) .. stream_of(MESSAGES))
    eq({}, errs)
    eq(6, #msgs)
    eq(MESSAGES, { msgs[4], msgs[5], msgs[6] })
    eq(MESSAGES[1], msgs[1])
  end)

  it('accepts header names in any case and ignores other headers', function()
    local body = vim.json.encode(MESSAGES[2])
    local variants = {
      frame(body, 'content-length: ' .. #body .. '\r\n'),
      frame(body, 'CONTENT-LENGTH:' .. #body .. '\r\n'),
      frame(body, 'Content-Length: ' .. #body .. '\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n'),
      frame(body, 'Content-Type: application/vscode-jsonrpc\r\ncOnTeNt-LeNgTh: ' .. #body .. '\r\n'),
    }
    for _, data in ipairs(variants) do
      local msgs, errs = rpc.new_decoder():feed(data)
      eq({}, errs, data)
      eq({ MESSAGES[2] }, msgs, data)
    end
  end)

  it('resynchronises at the next Content-Length after a bad header', function()
    local good = rpc.encode(MESSAGES[1])
    local bad_headers = {
      'Content-Length: abc\r\n\r\n{"x":1}', -- non-numeric
      'Content-Type: text/plain\r\n\r\n{"x":1}', -- missing Content-Length
      'garbage without any header end ' .. string.rep('x', rpc.MAX_HEADER + 10), -- no blank line within 8 KiB
    }
    for _, bad in ipairs(bad_headers) do
      local d = rpc.new_decoder()
      local msgs, errs = d:feed(bad .. good .. good)
      eq({ MESSAGES[1], MESSAGES[1] }, msgs, 'after ' .. bad:sub(1, 30))
      eq(1, #errs, 'one error for ' .. bad:sub(1, 30))
      eq(0, d:buffered())
    end
  end)

  it('applies the 8 KiB header limit (terminator included) the same for every split', function()
    local body = vim.json.encode(MESSAGES[2])
    local good = rpc.encode(MESSAGES[3])
    local function verdict(chunks)
      local msgs, errs = feed_all(rpc.new_decoder(), chunks)
      return { #msgs, #errs }
    end
    for section = rpc.MAX_HEADER - 3, rpc.MAX_HEADER + 3 do
      local head = 'Content-Length: ' .. #body .. '\r\nX-Pad: '
      local pad = string.rep('p', section - #head - 4)
      local data = head .. pad .. '\r\n\r\n' .. body .. good
      eq(section, #head + #pad + 4)
      local whole = verdict({ data })
      eq(section <= rpc.MAX_HEADER and { 2, 0 } or { 1, 1 }, whole, 'section of ' .. section .. ' bytes')
      for cut = section - 8, section + 1 do
        eq(whole, verdict({ data:sub(1, cut), data:sub(cut + 1) }), 'section ' .. section .. ' split at ' .. cut)
      end
    end
  end)

  it('resynchronises when the next Content-Length is split across chunks', function()
    local good = rpc.encode(MESSAGES[3])
    local data = 'Content-Length: 12x\r\n\r\n' .. string.rep('junk', 50) .. good
    local cut = #data - #good + 7 -- inside "Content-Length"
    local msgs, errs = feed_all(rpc.new_decoder(), { data:sub(1, cut), data:sub(cut + 1) })
    eq({ MESSAGES[3] }, msgs)
    eq(1, #errs)
  end)

  it('refuses an oversize body (64 MiB limit) without storing it and keeps going', function()
    eq(64 * 1024 * 1024, rpc.MAX_BODY)
    local d = rpc.new_decoder()
    local size = rpc.MAX_BODY + 1
    local msgs, errs = d:feed('Content-Length: ' .. size .. '\r\n\r\n')
    eq({}, msgs)
    eq(1, #errs)
    h.matches('exceeds', errs[1])
    local mib = string.rep('a', 1024 * 1024)
    for _ = 1, 64 do
      msgs, errs = d:feed(mib)
      eq({}, msgs)
      eq({}, errs)
      eq(0, d:buffered(), 'skipped bytes must not be stored')
    end
    -- the last byte of the refused body, then a valid message in the same chunk
    msgs, errs = d:feed('a' .. rpc.encode(MESSAGES[2]))
    eq({ MESSAGES[2] }, msgs)
    eq({}, errs)
  end)

  it('applies a custom limit exactly: max accepted, max + 1 refused', function()
    local body = vim.json.encode({ s = string.rep('z', 80) })
    local at_limit = rpc.new_decoder(#body)
    eq({ vim.json.decode(body) }, (at_limit:feed(frame(body))))
    local below = rpc.new_decoder(#body - 1)
    local msgs, errs = below:feed(frame(body) .. rpc.encode(MESSAGES[2]))
    eq({ MESSAGES[2] }, msgs)
    eq(1, #errs)
  end)

  it('decodes a multibyte UTF-8 body split inside every character', function()
    local msg = { jsonrpc = '2.0', method = 'chat/token', params = { text = 'é€😀中文' } }
    local data = rpc.encode(msg)
    local body_start = data:find('\r\n\r\n', 1, true) + 4
    for i = body_start, #data - 1 do
      local msgs, errs = feed_all(rpc.new_decoder(), { data:sub(1, i), data:sub(i + 1) })
      eq({}, errs)
      eq({ msg }, msgs, 'split at byte ' .. i)
    end
  end)

  it('reports a body that is not JSON and continues', function()
    local msgs, errs = rpc.new_decoder():feed(frame('{not json') .. rpc.encode(MESSAGES[3]))
    eq({ MESSAGES[3] }, msgs)
    eq(1, #errs)
  end)

  it('keeps per-message cost independent of bytes already seen', function()
    -- A decoder that re-copies or re-scans its whole buffer is quadratic here.
    local one = rpc.encode(MESSAGES[2])
    local n = 20000
    local d = rpc.new_decoder()
    local t0 = uv.hrtime()
    local msgs = d:feed(string.rep(one, n))
    eq(n, #msgs)
    local big = { jsonrpc = '2.0', method = 'x', params = { s = string.rep('b', 4 * 1024 * 1024) } }
    local data = rpc.encode(big)
    local got = {}
    for i = 1, #data, 1024 do
      vim.list_extend(got, (d:feed(data:sub(i, i + 1023))))
    end
    local ms = (uv.hrtime() - t0) / 1e6
    eq(1, #got)
    eq(#big.params.s, #got[1].params.s)
    eq(0, d:buffered())
    ok(ms < 2000, string.format('decoding took %.0f ms', ms))
  end)
end)

describe('rpc and hostile bytes', function()
  local function body_of(data)
    return data:match('\r\n\r\n(.*)$')
  end

  it('encodes invalid UTF-8 in strings as U+FFFD and leaves valid text alone', function()
    local msg = { jsonrpc = '2.0', id = 1, method = 'x', params = { a = 'caf\233', b = 'ok é 😀', ['k\255'] = 'v' } }
    local data = rpc.encode(msg)
    local body = body_of(data)
    ok(require('quill.utf8').valid(body), 'the body is UTF-8')
    eq(#body, tonumber(data:match('^Content%-Length: (%d+)')), 'Content-Length counts the repaired body')
    local got = vim.json.decode(body)
    eq('caf\239\191\189', got.params.a)
    eq('ok é 😀', got.params.b)
    eq('v', got.params['k\239\191\189'])
    local valid = rpc.encode(MESSAGES[1])
    eq(vim.json.encode(MESSAGES[1]), body_of(valid), 'valid text is not touched')
  end)

  it('outlines JSON without decoding it: depth, top-level id, method', function()
    eq({ 0, nil, nil }, { rpc.outline('5') })
    eq({ 1, 3, nil }, { rpc.outline('{"id":3,"result":null}') })
    eq({ 1, 'abc', true }, { rpc.outline('{"method":"x","id":"abc"}') })
    -- brackets and "id" inside strings and nested objects are not the top level
    eq({ 2, 7, nil }, { rpc.outline('{"result":{"id":1,"s":"[[[{\\"id\\":2"},"id":7}') })
    eq({ 1, nil, nil }, { rpc.outline('{"result":"\\"id\\":5"}') })
    -- an id after a deep part, and in unfinished text
    local deep = ('['):rep(5000) .. (']'):rep(5000)
    eq({ 5001, -4, nil }, { rpc.outline('{"error":' .. deep .. ',"id":-4}') })
    eq({ 2, 12, nil }, { rpc.outline('{"id":12,"result":{"content":"ab') })
  end)

  it('refuses a body nested deeper than 256 levels, keeps one of 256, and reports the id', function()
    eq(256, rpc.MAX_DEPTH)
    local function nested(depth) -- a response of depth `depth` in all
      return '{"id":5,"jsonrpc":"2.0","result":' .. ('['):rep(depth - 1) .. (']'):rep(depth - 1) .. '}'
    end
    local msgs, errs, bad = rpc.new_decoder():feed(frame(nested(256)))
    eq(1, #msgs)
    eq({}, errs)
    eq({}, bad)
    msgs, errs, bad = rpc.new_decoder():feed(frame(nested(257)) .. rpc.encode(MESSAGES[3]))
    eq({ MESSAGES[3] }, msgs, 'decoding goes on')
    eq(1, #errs)
    h.matches('deeper than 256', errs[1])
    eq({ { id = 5, request = false, reason = 'it nests deeper than 256 levels' } }, bad)
  end)

  it('refuses a body that is not UTF-8 or not JSON, with the id and kind it could find', function()
    local _, errs, bad = rpc.new_decoder():feed(frame('{"id":3,"method":"editor/readFile","params":{"path":"\255"}}')
      .. frame('{"id":4,"result":') .. frame('[1]'))
    eq(3, #errs)
    eq(3, bad[1].id)
    eq(true, bad[1].request)
    h.matches('^it is not valid UTF%-8', bad[1].reason)
    eq(4, bad[2].id)
    eq(false, bad[2].request)
    h.matches('^it is not JSON', bad[2].reason)
    eq(nil, bad[3].id)
  end)
end)
