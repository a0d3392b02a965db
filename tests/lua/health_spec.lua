-- :checkhealth quill in a child Neovim, reading the report buffer.
local h = require('harness')
local e2e = require('e2e')
local eq, ok = h.eq, h.ok
local uv = vim.uv or vim.loop

local function checkhealth(backend_path, opts)
  local child = h.new_child()
  child.lua('vim.env.QUILL_BACKEND = ...', { backend_path })
  if opts then
    child.lua("require('quill').setup(...)", { opts })
  end
  child.cmd('checkhealth quill')
  local lines = child.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
  return lines, child
end

local function find(lines, pattern)
  for _, l in ipairs(lines) do
    if l:find(pattern) then
      return l
    end
  end
end

describe(':checkhealth quill', function()
  it('reports the backend version, a successful initialize, Ollama and no ERROR', function()
    local bin = h.backend_path()
    local version = vim.fn.system({ bin, '--version' }):match('^quill%-backend (%S+)')
    ok(version, 'quill-backend --version')
    local url = e2e.start_fake()
    local lines, child = checkhealth(bin, { host = url })
    local report = table.concat(lines, '\n')
    ok(find(lines, 'OK.*Neovim %d+%.%d+%.%d+'), 'Neovim version line:\n' .. report)
    ok(find(lines, 'OK.*quill%-backend ' .. vim.pesc(version) .. ' at ' .. vim.pesc(bin)), 'binary line:\n' .. report)
    ok(find(lines, 'OK.*initialize answered: quill%-backend ' .. vim.pesc(version)), 'initialize line:\n' .. report)
    ok(find(lines, 'methods: .*initialize.*shutdown'), 'methods line:\n' .. report)
    eq(nil, find(lines, 'ERROR'), 'no ERROR expected:\n' .. report)
    eq(nil, find(lines, 'WARN'), 'no WARNING expected:\n' .. report)
    eq(false, child.lua("return require('quill.backend').is_running()"), 'health leaves no backend running')
    ok(find(lines, 'OK.*Ollama %S+ reachable at ' .. vim.pesc(url)), 'Ollama line:\n' .. report)
    ok(find(lines, 'models?: .*llama3%.2:latest'), 'models line:\n' .. report)
    ok(find(lines, "OK.*model 'llama3%.2' is installed; capabilities: completion"), 'model line:\n' .. report)
  end)

  it('probes every endpoint: an OpenAI-compatible one that answers and one that does not', function()
    local url = e2e.start_fake()
    local tcp = uv.new_tcp()
    tcp:bind('127.0.0.1', 0)
    local port = tcp:getsockname().port
    tcp:close()
    vim.env.QUILL_HEALTH_KEY = 'sk-health-secret' -- the children inherit it
    local lines = checkhealth(h.backend_path(), {
      host = url,
      endpoints = {
        v1 = { kind = 'openai', url = url .. '/v1', model = 'qwen3:8b' },
        gone = { kind = 'openai', url = 'http://127.0.0.1:' .. port .. '/v1', api_key_env = 'QUILL_HEALTH_KEY' },
      },
      endpoint = 'v1',
    })
    local report = table.concat(lines, '\n')
    ok(find(lines, '^.*endpoint v1 %(openai%)'), 'a section per endpoint:\n' .. report)
    ok(find(lines, 'OK.*OpenAI%-compatible server reachable at ' .. vim.pesc(url) .. '/v1 %(the current endpoint%)'),
      'v1 line:\n' .. report)
    ok(find(lines, 'tools: offered'), 'tools line:\n' .. report)
    local err = find(lines, 'ERROR')
    ok(err and err:find('not reachable at http://127.0.0.1:' .. port .. '/v1', 1, true), 'gone line:\n' .. report)
    ok(not report:find('ollama serve', 1, true) or report:find('Ollama'), report)
    ok(find(lines, 'OK.*Ollama %S+ reachable at ' .. vim.pesc(url)), 'the ollama endpoint too:\n' .. report)
    eq(nil, report:find('sk-health-secret', 1, true), 'no key in the report')
    vim.env.QUILL_HEALTH_KEY = nil
  end)

  it('says to run ollama serve when Ollama is not reachable', function()
    local tcp = uv.new_tcp()
    tcp:bind('127.0.0.1', 0)
    local port = tcp:getsockname().port
    tcp:close()
    local lines = checkhealth(h.backend_path(), { host = 'http://127.0.0.1:' .. port })
    local report = table.concat(lines, '\n')
    local err = find(lines, 'ERROR')
    ok(err, 'an ERROR line:\n' .. report)
    ok(err:find('not reachable at http://127.0.0.1:' .. port, 1, true), report)
    ok(report:find('ollama serve', 1, true), 'says what to run:\n' .. report)
  end)

  it('never shows the credentials of a host', function()
    local tcp = uv.new_tcp()
    tcp:bind('127.0.0.1', 0)
    local port = tcp:getsockname().port
    tcp:close()
    local lines = checkhealth(h.backend_path(), { host = 'http://user:secret@127.0.0.1:' .. port })
    local report = table.concat(lines, '\n')
    eq(nil, report:find('secret', 1, true), report)
    ok(find(lines, 'ERROR.*not reachable at http://127%.0%.0%.1:' .. port), report)
    eq('https://***@example.com/x', require('quill.health').redact_host('https://u:p@ss@example.com/x'))
    eq('***@h:1', require('quill.health').redact_host('u:secret@h:1'))
    eq('http://h:1', require('quill.health').redact_host('http://h:1'))
  end)

  it('reports a host that does not parse as an ERROR naming it, never as another host', function()
    for _, host in ipairs({ 'not a url with spaces', 'http://user:secret@[::1', 'ftp://x' }) do
      local lines = checkhealth(h.backend_path(), { host = host })
      local report = table.concat(lines, '\n')
      local shown = host:gsub('user:secret', '***')
      ok(find(lines, 'ERROR.*initialize failed:.*' .. vim.pesc("'" .. shown .. "'")), report)
      ok(report:find('fix the host', 1, true), 'says what to fix:\n' .. report)
      eq(nil, report:find('secret', 1, true), report)
      eq(nil, report:find('11434', 1, true), 'no fallback to the default host:\n' .. report)
    end
  end)

  it('says to run ollama pull when the configured model is missing', function()
    local url = e2e.start_fake()
    local lines = checkhealth(h.backend_path(), { host = url, model = 'missing-model' })
    local report = table.concat(lines, '\n')
    ok(find(lines, "ERROR.*configured model 'missing%-model' is not installed"), report)
    ok(report:find('ollama pull missing-model', 1, true), 'says what to run:\n' .. report)
    ok(find(lines, 'OK.*reachable at'), report)
  end)

  it('reports an ERROR that says how to build when the binary is missing', function()
    local lines = checkhealth('/nonexistent/dir/quill-backend')
    local report = table.concat(lines, '\n')
    local err = find(lines, 'ERROR')
    ok(err, 'an ERROR line:\n' .. report)
    ok(report:find("make build", 1, true), 'mentions make build:\n' .. report)
    ok(report:find('/nonexistent/dir/quill-backend', 1, true), 'names the path:\n' .. report)
    eq(nil, find(lines, 'initialize answered'), report)
  end)
end)
