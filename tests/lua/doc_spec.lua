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
end)
