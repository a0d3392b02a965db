-- quill user commands. Modules load only when a command runs.
if vim.g.loaded_quill then
  return
end
vim.g.loaded_quill = true

local function command(name, desc, fn)
  vim.api.nvim_create_user_command(name, fn, { desc = desc, nargs = 0 })
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
