-- End-to-end helpers: the fake Ollama server (tests/support/fake_ollama) and
-- a child Neovim using the real quill-backend against it.
local h = require('harness')

local M = {}

local uv = vim.uv or vim.loop

-- Path of the fake-ollama binary: $QUILL_FAKE_OLLAMA (set by CTest),
-- $FAKE_OLLAMA, else the usual build directories. Errors when absent.
function M.fake_path()
  local candidates = { vim.env.QUILL_FAKE_OLLAMA, vim.env.FAKE_OLLAMA }
  for _, dir in ipairs({ 'build', 'build-lua', 'build-fake' }) do
    table.insert(candidates, h.root .. '/' .. dir .. '/fake-ollama')
    table.insert(candidates, h.root .. '/' .. dir .. '/tests/support/fake_ollama/fake-ollama')
  end
  for _, path in pairs(candidates) do
    if path ~= '' and vim.fn.executable(path) == 1 then
      return path
    end
  end
  error('fake-ollama not found (set QUILL_FAKE_OLLAMA or build it)', 0)
end

-- Start the fake server; returns its base URL. It is stopped after the test
-- (and exits by itself when our end of its stdin closes). `args` are extra
-- command-line arguments (e.g. { '--scenario', 'tools' }: the scenario of
-- model names that are not scenarios).
function M.start_fake(args)
  local url
  local cmd = { M.fake_path(), '--port', '0', '--quiet', '--exit-on-stdin-eof' }
  vim.list_extend(cmd, args or {})
  local job = vim.fn.jobstart(cmd, {
    on_stdout = function(_, data)
      for _, line in ipairs(data) do
        url = url or line:match('^listening on (http://%S+)')
      end
    end,
  })
  if job <= 0 then
    error('cannot start fake-ollama: ' .. M.fake_path(), 0)
  end
  h.cleanup(function()
    vim.fn.jobstop(job)
  end)
  h.wait_for(function()
    return url
  end, 5000, 'fake-ollama to print its address')
  return url
end

function M.fake_stats(url)
  local out = vim.fn.system({ 'curl', '-s', '--max-time', '5', url .. '/_fake/stats' })
  if vim.v.shell_error ~= 0 then
    error('curl ' .. url .. '/_fake/stats failed: ' .. out, 0)
  end
  return vim.json.decode(out)
end

-- Child Neovim whose quill uses the real backend and the fake at `url`;
-- vim.notify is captured in _G.notes. `opts` go to setup(), `child_opts` to h.new_child().
function M.child(url, opts, child_opts)
  local child = h.new_child(child_opts)
  child.lua([[
    local bin, cfg = ...
    vim.env.QUILL_BACKEND = bin
    _G.notes = {}
    vim.notify = function(msg, level)
      table.insert(_G.notes, { msg = msg, level = level })
    end
    require('quill').setup(cfg)
    _G.lines = function(buf)
      return vim.api.nvim_buf_get_lines(buf or 0, 0, -1, false)
    end
    _G.chat_lines = function()
      return vim.api.nvim_buf_get_lines(require('quill.chat').state().buf, 0, -1, false)
    end
    _G.idle = function()
      return not require('quill').status().busy
    end
  ]], { h.backend_path(), vim.tbl_extend('force', { host = url, log_file = vim.fn.tempname() }, opts or {}) })
  return child
end

-- Start the child's backend and fail clearly unless it implements `methods`.
function M.require_methods(child, methods)
  child.lua([[
    _G.init = nil
    require('quill.backend').start(function(err, result) _G.init = { err = err, result = result } end)
  ]])
  child.wait('init ~= nil', 5000)
  local init = child.lua('return init')
  if init.err then
    error('backend did not start: ' .. vim.inspect(init.err), 0)
  end
  local have = init.result.capabilities and init.result.capabilities.methods or {}
  for _, m in ipairs(methods) do
    if not vim.tbl_contains(have, m) then
      error(('quill-backend %s does not implement %s (capabilities.methods: %s); the end-to-end tests need it')
        :format(h.backend_path(), m, table.concat(have, ', ')), 0)
    end
  end
  return init.result
end

-- Text of the last answer in the chat buffer (lines from `first` on) and its
-- end mark if any. The buffer ends with the trailer
--   <answer last line>, '', ['[mark]', ''], '## You', '', <one prompt line>
function M.answer_text(lines, first)
  local last = #lines
  assert(lines[last - 2] == '## You', 'chat ends with a ## You section: ' .. vim.inspect({ unpack(lines, last - 6) }))
  local stop = last - 4
  local mark = nil
  if lines[stop] and lines[stop]:match('^%[.*%]$') and lines[stop + 1] == '' then
    mark = lines[stop]
    stop = stop - 2
  end
  return table.concat({ unpack(lines, first, stop) }, '\n'), mark
end

-- The fake's tokens 1..n ("t<i>" + one of '', 'é', '日本', '👋', '\n' + ' ').
function M.tokens(n)
  local suffix = { '', 'é', '日本', '👋', '\n' }
  local out = {}
  for i = 1, n do
    out[i] = 't' .. i .. suffix[(i - 1) % 5 + 1] .. ' '
  end
  return out
end

function M.kill(pid)
  return uv.kill(pid, 'sigkill')
end

return M
