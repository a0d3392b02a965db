-- doc/quill.txt: valid help file whose tags cover what the plugin defines.
local h = require('harness')
local eq, ok = h.eq, h.ok

local function doc_tags()
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  vim.fn.writefile(vim.fn.readfile(h.root .. '/doc/quill.txt'), dir .. '/quill.txt')
  vim.cmd('helptags ' .. vim.fn.fnameescape(dir)) -- raises on duplicate tags
  local tags = {}
  for _, line in ipairs(vim.fn.readfile(dir .. '/tags')) do
    tags[line:match('^[^\t]+')] = true
  end
  return tags
end

describe('doc/quill.txt', function()
  it('has the documented entry points', function()
    local tags = doc_tags()
    for _, tag in ipairs({
      'quill', 'quill-setup', 'quill-config', 'quill-commands', 'quill-health', 'quill-backend', 'quill.status()',
    }) do
      ok(tags[tag], 'missing tag *' .. tag .. '*')
    end
  end)

  it('documents every user command and every option', function()
    local tags = doc_tags()
    -- plugin/quill.lua is on 'runtimepath' and loaded at startup
    eq(true, vim.g.loaded_quill)
    local n = 0
    for name in pairs(vim.api.nvim_get_commands({})) do
      if name:match('^Quill') then
        n = n + 1
        ok(tags[':' .. name], 'command :' .. name .. ' has no *:' .. name .. '* tag')
      end
    end
    ok(n >= 3, 'plugin defines its commands')
    local schema_keys = vim.tbl_keys(require('quill.config').defaults())
    -- keys whose default is nil are not in defaults(); check them explicitly
    vim.list_extend(schema_keys, { 'backend_cmd', 'host', 'system_prompt', 'workspace_root' })
    for _, key in ipairs(schema_keys) do
      ok(tags['quill-config-' .. key], 'option ' .. key .. ' has no *quill-config-' .. key .. '* tag')
    end
    eq(true, tags['quill-config'])
  end)

  it('lists every default in its defaults block, nested tables too', function()
    local text = table.concat(vim.fn.readfile(h.root .. '/doc/quill.txt'), '\n')
    local block = text:match('Defaults: >\n(.-)\n<')
    ok(block, 'the defaults block')
    local defaults = require('quill.config').defaults()
    local function check(tbl, where)
      for key, value in pairs(tbl) do
        ok(block:find('%f[%w_]' .. key .. ' = ') ~= nil, 'the defaults block lacks ' .. where .. key)
        if type(value) == 'table' and not vim.tbl_islist(value) then
          check(value, where .. key .. '.')
        elseif type(value) == 'table' then
          for _, item in ipairs(value) do
            ok(block:find("'" .. item .. "'", 1, true) ~= nil, 'the defaults block lacks ' .. where .. key .. ' ' .. item)
          end
        end
      end
    end
    check(defaults, '')
    for _, key in ipairs({ 'backend_cmd', 'host', 'system_prompt', 'workspace_root', 'endpoint' }) do
      ok(block:find(key .. ' = nil', 1, true) ~= nil, 'the defaults block lacks ' .. key)
    end
    ok(block:find('offer = nil', 1, true) ~= nil, 'the defaults block lacks tools.offer')
  end)

  it(':help quill opens on a quick start', function()
    local lines = vim.fn.readfile(h.root .. '/doc/quill.txt')
    local at_quill, at_quick
    for i, line in ipairs(lines) do
      if line:find('*quill*', 1, true) then
        at_quill = at_quill or i
      end
      if line:find('*quill-quickstart*', 1, true) then
        at_quick = i
      end
    end
    ok(at_quill and at_quick and at_quick - at_quill < 20, 'the quick start follows the *quill* tag closely')
  end)
end)
