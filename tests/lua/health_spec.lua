-- :checkhealth quill in a child Neovim, reading the report buffer.
local h = require('harness')
local eq, ok = h.eq, h.ok

local function checkhealth(backend_path)
  local child = h.new_child()
  child.lua('vim.env.QUILL_BACKEND = ...', { backend_path })
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
  it('reports the backend version, a successful initialize and no ERROR', function()
    local bin = h.backend_path()
    local version = vim.fn.system({ bin, '--version' }):match('^quill%-backend (%S+)')
    ok(version, 'quill-backend --version')
    local lines, child = checkhealth(bin)
    local report = table.concat(lines, '\n')
    ok(find(lines, 'OK.*Neovim %d+%.%d+%.%d+'), 'Neovim version line:\n' .. report)
    ok(find(lines, 'OK.*quill%-backend ' .. vim.pesc(version) .. ' at ' .. vim.pesc(bin)), 'binary line:\n' .. report)
    ok(find(lines, 'OK.*initialize answered: quill%-backend ' .. vim.pesc(version)), 'initialize line:\n' .. report)
    ok(find(lines, 'methods: .*initialize.*shutdown'), 'methods line:\n' .. report)
    eq(nil, find(lines, 'ERROR'), 'no ERROR expected:\n' .. report)
    eq(nil, find(lines, 'WARN'), 'no WARNING expected:\n' .. report)
    eq(false, child.lua("return require('quill.backend').is_running()"), 'health leaves no backend running')
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
