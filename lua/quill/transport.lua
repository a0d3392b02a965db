-- The backend's transport: a child process speaking framed JSON-RPC on its stdin and stdout.
-- It owns the process and its three pipes (and closes them), decodes what the process writes,
-- and hands each read's messages to the editor in one batch. It knows nothing of methods.
--
-- spawn(cmd, args, handlers) -> transport | nil, error text. handlers:
--   on_messages(messages, undecodable)  main loop: one read's decoded messages, and the frames
--                                       that could not be decoded (rpc Decoder:feed)
--   on_frame_error(text)                libuv context: a frame that was skipped
--   on_stderr(line)                     libuv context: a line the process wrote to stderr
--   on_exit(code, signal)               libuv context: the process is gone
--   on_closed()                         main loop, once: gone, and stdout/stderr drained
-- transport: :write(frame) -> bool, :kill(signal), :close(), .pid. Tests give the backend a fake
-- with the same shape (backend.use_transport).
local rpc = require('quill.rpc')

local M = {}

local uv = vim.uv or vim.loop

-- After the exit, how long to wait for stdout EOF (a grandchild may hold the pipes open).
M.EOF_GRACE_MS = 200

local function close_handle(h)
  if h and not h:is_closing() then
    h:close()
  end
end

function M.spawn(cmd, args, handlers)
  local t = {
    decoder = rpc.new_decoder(),
    stdin = uv.new_pipe(false),
    stdout = uv.new_pipe(false),
    stderr = uv.new_pipe(false),
    stderr_partial = '',
  }

  local function close_all()
    if t.eof_timer then
      t.eof_timer:stop()
      close_handle(t.eof_timer)
    end
    close_handle(t.stdin)
    close_handle(t.stdout)
    close_handle(t.stderr)
  end

  local function maybe_closed()
    if t.exited and t.eof and t.stderr_eof and not t.closed_scheduled then
      t.closed_scheduled = true
      vim.schedule(function()
        close_all()
        handlers.on_closed()
      end)
    end
  end

  local function on_read(err, chunk)
    if err or not chunk then
      t.eof = true
      t.stdout:read_stop()
      maybe_closed()
      return
    end
    local messages, errors, undecodable = t.decoder:feed(chunk)
    for _, e in ipairs(errors) do
      handlers.on_frame_error(e)
    end
    if #messages > 0 or #undecodable > 0 then
      vim.schedule(function()
        handlers.on_messages(messages, undecodable)
      end)
    end
  end

  local function on_stderr(err, chunk)
    if err or not chunk then
      if t.stderr_partial ~= '' then
        handlers.on_stderr(t.stderr_partial)
        t.stderr_partial = ''
      end
      t.stderr_eof = true
      t.stderr:read_stop()
      maybe_closed()
      return
    end
    local text = t.stderr_partial .. chunk
    local last_nl = 0
    for line, stop in text:gmatch('([^\n]*)\n()') do
      last_nl = stop - 1
      line = line:gsub('\r$', '')
      if line ~= '' then
        handlers.on_stderr(line)
      end
    end
    t.stderr_partial = text:sub(last_nl + 1)
  end

  local handle, pid = uv.spawn(cmd, { args = args, stdio = { t.stdin, t.stdout, t.stderr } }, function(code, signal)
    t.exited = true
    close_handle(t.handle)
    close_handle(t.stdin)
    handlers.on_exit(code, signal)
    if not (t.eof and t.stderr_eof) then
      t.eof_timer = uv.new_timer()
      t.eof_timer:start(M.EOF_GRACE_MS, 0, function()
        t.eof, t.stderr_eof = true, true
        maybe_closed()
      end)
    end
    maybe_closed()
  end)
  if not handle then
    close_all()
    return nil, tostring(pid)
  end
  t.handle, t.pid = handle, pid
  t.stdout:read_start(on_read)
  t.stderr:read_start(on_stderr)
  t._on_read = on_read -- (tests feed it; kept on the object, not in a table that outlives it)

  function t:write(frame)
    if self.exited or self.stdin:is_closing() then
      return false
    end
    self.stdin:write(frame)
    return true
  end

  function t:kill(signal)
    if not self.exited then
      pcall(self.handle.kill, self.handle, signal)
    end
  end

  -- Closes the pipes now (the backend gives up on the process); idempotent.
  function t:close()
    close_all()
  end

  return t
end

-- Feed `chunk` to transport `t` as if its process had written it (tests of the framing).
function M._feed(t, chunk)
  t._on_read(nil, chunk)
end

return M
