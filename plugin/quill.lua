-- quill user commands and <Plug> maps. Modules load only when one is used.
if vim.g.loaded_quill then
  return
end
vim.g.loaded_quill = true

local function command(name, desc, fn, opts)
  opts = vim.tbl_extend('force', { desc = desc, nargs = 0 }, opts or {})
  vim.api.nvim_create_user_command(name, fn, opts)
end

command('QuillInfo', 'quill: start the backend if needed and show its version and state', function()
  require('quill.commands').info()
end)

command('QuillRestart', 'quill: stop and start the backend', function()
  require('quill.commands').restart()
end)

command('QuillLog', 'quill: open the backend log file', function()
  require('quill.commands').log()
end)

command('QuillChat', "quill: open the chat; with a prompt, send it (a range: attached as #selection)", function(a)
  require('quill').chat(a.args, a.range > 0 and { range = { a.line1, a.line2 } } or nil)
end, { nargs = '*', range = true })

command('QuillInsert', 'quill: stream an answer at the cursor, or in place of the range', function(a)
  require('quill.commands').insert(a.args, a.range > 0 and { a.line1, a.line2 } or nil)
end, { nargs = '*', range = true })

command('QuillCancel', 'quill: stop the answers of this buffer (all with !, or when it has none)', function(a)
  if require('quill').cancel({ all = a.bang }) == 0 then
    vim.notify('quill: nothing is streaming', vim.log.levels.INFO)
  end
end, { bang = true })

command('QuillNew', 'quill: start another conversation; with a prompt, send it', function(a)
  require('quill').new(a.args)
end, { nargs = '*' })

command('QuillChats', 'quill: pick a conversation to open, rename or delete', function()
  require('quill.chat').pick()
end)

command('QuillUndo', "quill: take back what an answer of this chat changed through tools", function()
  require('quill.chat').undo()
end)

command('QuillTools', 'quill: offer tools in this chat or not (on, off; no argument toggles)', function(a)
  require('quill.chat').set_tools(a.args)
end, { nargs = '?', complete = function()
  return { 'on', 'off' }
end })

command('QuillModel', 'quill: switch the model (no name: pick one)', function(a)
  require('quill').model(a.args)
end, {
  nargs = '?',
  complete = function(lead)
    return require('quill.commands').complete_models(lead)
  end,
})

-- The first <Tab> after :QuillModel / :QuillPull completes: the models are asked for while the
-- command is typed (a completion function cannot wait for them without blocking Neovim).
vim.api.nvim_create_autocmd('CmdlineChanged', {
  group = vim.api.nvim_create_augroup('quill_complete_models', { clear = true }),
  pattern = ':',
  callback = function()
    local line = vim.fn.getcmdline()
    if line:find('^%s*QuillMo') or line:find('^%s*QuillPu') then
      require('quill.commands').prefetch_models()
    end
  end,
})

command('QuillPull', 'quill: download a model into Ollama (no name: the configured one)', function(a)
  require('quill').pull(a.args)
end, {
  nargs = '?',
  complete = function(lead)
    return require('quill.commands').complete_models(lead)
  end,
})

command('QuillEndpoint', 'quill: switch the endpoint chats use (no name: pick one)', function(a)
  require('quill').endpoint(a.args)
end, {
  nargs = '?',
  complete = function(lead)
    return require('quill.commands').complete_endpoints(lead)
  end,
})

vim.keymap.set({ 'n', 'i', 'x' }, '<Plug>(quill-cancel)', function()
  require('quill').cancel()
end, { desc = 'quill: stop the answers of this buffer, or all' })

command('QuillReview', 'quill: go to the waiting review of a change (accept or reject it there)', function()
  require('quill.review').jump()
end)

vim.keymap.set('n', '<Plug>(quill-review)', function()
  require('quill.review').jump()
end, { desc = 'quill: go to the waiting review of a change' })

-- Highlight groups, as `default` links so colorschemes and users win; again
-- after a colorscheme change (which clears them).
local function highlights()
  for name, target in pairs({
    QuillSpinner = 'Comment',
    QuillStats = 'Comment',
    QuillCancelled = 'WarningMsg',
    QuillError = 'ErrorMsg',
    QuillHeader = 'Title',
    QuillTool = 'Special',
    QuillThinking = 'Comment',
  }) do
    vim.cmd(('highlight default link %s %s'):format(name, target))
  end
end
highlights()
vim.api.nvim_create_autocmd('ColorScheme', {
  group = vim.api.nvim_create_augroup('quill_highlights', { clear = true }),
  desc = 'quill: define the highlight groups again',
  callback = highlights,
})
