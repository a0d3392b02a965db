-- protocol/examples/*.json: well-formed JSON-RPC, and the Lua client builds
-- messages of the same shape.
local h = require('harness')
local shape = require('shape')
local eq, ok = h.eq, h.ok

local dir = h.root .. '/protocol/examples'
local OPTIONAL_FILE = 'optional-keys.json'

local function read_json(path)
  local f = assert(io.open(path, 'rb'))
  local text = f:read('*a')
  f:close()
  return vim.json.decode(text)
end

local function example_files()
  local files = {}
  for _, path in ipairs(vim.fn.glob(dir .. '/*.json', false, true)) do
    local name = vim.fn.fnamemodify(path, ':t')
    if name ~= OPTIONAL_FILE then
      table.insert(files, name)
    end
  end
  table.sort(files)
  return files
end

local function optional_keys()
  return read_json(dir .. '/' .. OPTIONAL_FILE)
end

-- "chat.send.cancelled.response.json" -> "chat.send.cancelled", "response"
local function split_name(name)
  return name:match('^(.+)%.(%a+)%.json$')
end

local function has(t, key)
  return t[key] ~= nil
end

describe('protocol examples', function()
  it('exist and follow the naming convention', function()
    local files = example_files()
    ok(#files > 0, 'no examples in ' .. dir)
    for _, required in ipairs({ 'initialize.request.json', 'initialize.response.json', 'shutdown.request.json' }) do
      ok(vim.tbl_contains(files, required), required .. ' missing')
    end
    for _, name in ipairs(files) do
      local _, kind = split_name(name)
      ok(vim.tbl_contains({ 'request', 'response', 'notification', 'error' }, kind), 'bad kind in ' .. name)
    end
  end)

  it('each decodes to a JSON-RPC 2.0 message of the kind its name says', function()
    for _, name in ipairs(example_files()) do
      local stem, kind = split_name(name)
      local ok_dec, msg = pcall(read_json, dir .. '/' .. name)
      ok(ok_dec, name .. ' does not decode: ' .. tostring(msg))
      eq('object', shape.json_type(msg), name)
      eq('2.0', msg.jsonrpc, name .. ' jsonrpc')
      local optional = optional_keys()[name] or {}
      if kind == 'request' then
        eq('number', type(msg.id), name .. ' id')
        eq('string', type(msg.method), name .. ' method')
        ok(has(msg, 'params') or vim.tbl_contains(optional, 'params'), name .. ' has no params')
        local wire = msg.method == '$/cancelRequest' and 'cancelRequest' or msg.method:gsub('/', '.')
        eq(wire, stem:sub(1, #wire), name .. ' is named after its method')
      elseif kind == 'notification' then
        eq(nil, msg.id, name .. ' notification has an id')
        eq('string', type(msg.method), name .. ' method')
        local wire = msg.method == '$/cancelRequest' and 'cancelRequest' or msg.method:gsub('/', '.')
        eq(wire, stem:sub(1, #wire), name .. ' is named after its method')
      elseif kind == 'response' then
        eq('number', type(msg.id), name .. ' id')
        ok(has(msg, 'result'), name .. ' has no result')
        eq(nil, msg.error, name .. ' response with error')
        eq(nil, msg.method, name .. ' response with method')
      else
        ok(type(msg.id) == 'number' or msg.id == vim.NIL, name .. ' id must be a number or null')
        eq('object', shape.json_type(msg.error), name .. ' error')
        eq('number', type(msg.error.code), name .. ' error.code')
        eq('string', type(msg.error.message), name .. ' error.message')
        eq(nil, msg.result, name .. ' error with result')
      end
    end
  end)

  it('optional-keys.json names existing files and paths present in them', function()
    for name, paths in pairs(optional_keys()) do
      local path = dir .. '/' .. name
      eq(1, vim.fn.filereadable(path), name .. ' listed in ' .. OPTIONAL_FILE)
      local msg = read_json(path)
      for _, p in ipairs(paths) do
        ok(shape.get(msg, p) ~= nil, name .. ': optional path ' .. p .. ' not in the example')
      end
    end
  end)

  it('error codes agree with quill.backend.errors', function()
    local codes = require('quill.backend').errors
    local by_file = {
      ['parse.error.json'] = codes.ParseError,
      ['invalidRequest.error.json'] = codes.InvalidRequest,
      ['methodNotFound.error.json'] = codes.MethodNotFound,
      ['invalidParams.error.json'] = codes.InvalidParams,
      ['serverNotInitialized.error.json'] = codes.ServerNotInitialized,
      ['requestCancelled.error.json'] = codes.RequestCancelled,
      ['chat.send.error.json'] = codes.ProviderError,
    }
    for name, code in pairs(by_file) do
      if vim.fn.filereadable(dir .. '/' .. name) == 1 then
        eq(code, read_json(dir .. '/' .. name).error.code, name)
      end
    end
  end)
end)

describe('messages built by the Lua client', function()
  local config, backend

  before_each(function()
    package.loaded['quill.config'] = nil
    package.loaded['quill.backend'] = nil
    config = require('quill.config')
    backend = require('quill.backend')
  end)

  -- What actually goes on the wire: encode, then decode.
  local function wire(t)
    return vim.json.decode(vim.json.encode(t))
  end

  local example = function()
    return read_json(dir .. '/initialize.request.json').params
  end

  it('initialize params have the shape of initialize.request.json (every key, provider set)', function()
    config.setup({ host = 'http://127.0.0.1:11434', headers = { Authorization = 'Bearer x' },
      endpoints = { llama = { kind = 'openai', url = 'http://127.0.0.1:8080/v1', headers = { ['X-Team'] = 'a' },
        api_key_env = 'LLM_API_KEY' } }, endpoint = 'llama' })
    eq({}, shape.diff(example(), wire(backend._initialize_params()), nil, 'params'))
  end)

  it('initialize params with defaults match, leaving out only optional keys', function()
    config.setup({})
    local params = wire(backend._initialize_params())
    eq(nil, params.provider, 'provider is only sent when configured')
    eq(nil, params.endpoints, 'endpoints are only sent when configured')
    local optional = optional_keys()['initialize.request.json']
    eq({}, shape.diff(example(), params, optional, 'params'))
    eq(vim.fn.fnamemodify(vim.loop.cwd(), ':p'):gsub('/$', ''), params.workspaceRoot)
  end)

  it('settings/update params have the shape of settings.update.request.json', function()
    config.setup({ host = 'http://127.0.0.1:11434',
      endpoints = { llama = { kind = 'openai', url = 'http://127.0.0.1:8080/v1' } }, endpoint = 'llama' })
    local want = read_json(dir .. '/settings.update.request.json').params
    eq({}, shape.diff(want, wire(backend._settings_params()), nil, 'params'))
  end)

  it('initialize params carry the configured values', function()
    config.setup({ workspace_root = '/tmp', timeouts = { connect_ms = 7 }, headers = { A = 'b' } })
    local params = wire(backend._initialize_params())
    eq({ name = 'quill.nvim', version = '0.1.0' }, params.clientInfo)
    eq('/tmp', params.workspaceRoot)
    eq({ connectMs = 7, firstByteMs = 300000, idleMs = 60000 }, params.timeouts)
    eq({ headers = { A = 'b' } }, params.provider)
  end)

  it('the shape check itself rejects wrong types and missing keys', function()
    local bad = wire(backend._initialize_params())
    bad.workspaceRoot = 42
    bad.clientInfo = nil
    local errs = shape.diff(example(), bad, nil, 'params')
    ok(vim.tbl_contains(errs, 'params.workspaceRoot: expected string, got number'), vim.inspect(errs))
    ok(vim.tbl_contains(errs, 'params.clientInfo: missing (example has object)'), vim.inspect(errs))
  end)
end)
