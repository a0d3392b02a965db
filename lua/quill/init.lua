-- quill: chat with local models from Neovim. Works without setup().
local M = {}

M.version = require('quill.version')

-- Only merges and validates options; the backend starts lazily on first use. A running backend
-- takes the new endpoints and timeouts from the next turn.
function M.setup(opts)
  require('quill.config').setup(opts)
  if package.loaded['quill.backend'] then
    require('quill.backend').apply_settings()
  end
end

-- Snapshot for statuslines and tests. Does not start the backend (nor load
-- the chat modules).
function M.status()
  local backend = require('quill.backend')
  local info = backend.info()
  local busy, chats = false, {}
  if package.loaded['quill.stream'] then
    busy, chats = require('quill.stream').status()
  end
  return {
    -- true while any answer is being generated
    busy = busy,
    -- chatId -> { kind = 'chat'|'inline', model, bufnr, tokens, chars, tokens_per_second, elapsed_ms }
    chats = chats,
    backend = {
      running = info.running,
      pid = info.pid,
      restarts = info.restarts,
      version = info.server_info and info.server_info.version or nil,
    },
  }
end

-- A short text for a statusline: '' when quill has nothing to say; "quill ⠙ llama3.2 42 tok"
-- while an answer streams ("quill ⠙ 2 answers" for several), "· review" when a change waits for
-- the user. Cheap (reads tables only) and starts nothing.
function M.statusline()
  local parts = {}
  if package.loaded['quill.stream'] then
    local stream = require('quill.stream')
    local busy, chats = stream.status()
    if busy then
      local frames = stream.SPINNER
      local frame = frames[math.floor((vim.uv or vim.loop).now() / 100) % #frames + 1]
      local list = vim.tbl_values(chats)
      if #list == 1 then
        table.insert(parts, ('quill %s %s %d tok'):format(frame, tostring(list[1].model or '?'), list[1].tokens or 0))
      else
        table.insert(parts, ('quill %s %d answers'):format(frame, #list))
      end
    end
  end
  if package.loaded['quill.review'] and require('quill.review').current_prompt() then
    table.insert(parts, #parts == 0 and 'quill · review' or 'review')
  end
  return table.concat(parts, ' · ')
end

-- :QuillChat [prompt]
function M.chat(prompt, opts)
  return require('quill.chat').chat(prompt, opts)
end

-- :[range]QuillInsert [instruction]; opts.range = { first, last } (1-based).
function M.insert(instruction, opts)
  return require('quill.inline').insert(instruction, opts)
end

-- :QuillCancel[!]: the answers streaming into the current buffer (the chat
-- buffer counts as the chat's), or all of them when there are none or with
-- opts.all. Returns how many were cancelled.
function M.cancel(opts)
  opts = opts or {}
  -- a model download stops too
  local pulled = package.loaded['quill.pull'] and require('quill.pull').cancel() and 1 or 0
  if not package.loaded['quill.stream'] then
    return pulled
  end
  local stream = require('quill.stream')
  local n = 0
  if not opts.all then
    n = stream.cancel_all(vim.api.nvim_get_current_buf())
  end
  if n == 0 and pulled == 0 then
    n = stream.cancel_all(nil)
  end
  return n + pulled
end

-- :QuillNew [prompt]
function M.new(prompt)
  return require('quill.chat').new(prompt)
end

-- Every conversation, of this Neovim and saved, newest first:
-- { { id, title, model, endpoint, updated (os.time()), busy }, … }. Reads the saved files.
function M.chats()
  return vim.tbl_map(function(e)
    return { id = e.id, title = e.title, model = e.model, endpoint = e.endpoint, updated = e.updated, busy = e.busy }
  end, (require('quill.chat').list()))
end

-- Show conversation `id` (from chats()) in the chat window. Returns its buffer, or nil.
function M.open_chat(id)
  return require('quill.chat').open_chat(id)
end

-- :QuillModel [name]
function M.model(name)
  return require('quill.commands').model(name)
end

-- :QuillPull [model]
function M.pull(model)
  return require('quill.pull').pull(model)
end

-- :QuillEndpoint [name]
function M.endpoint(name)
  return require('quill.commands').endpoint(name)
end

return M
