-- :QuillPull: an Ollama model downloaded through the backend (models/pull), its progress as a
-- message line (layer, %, MB/s, ETA), cancellable with :QuillCancel; and the offer to pull when
-- a chat names a model that is not there.
local M = {}

local uv = vim.uv or vim.loop
local levels = vim.log.levels

local current = nil -- { id, model, layers = { [digest] = { at_ns, completed, rate } }, on_done }
local registered = false

local function mb(bytes)
  return string.format('%.1f MB', bytes / 1e6)
end

local function clock(seconds)
  seconds = math.floor(seconds + 0.5)
  if seconds >= 3600 then
    return string.format('%d:%02d:%02d', seconds / 3600, (seconds % 3600) / 60, seconds % 60)
  end
  return string.format('%d:%02d', seconds / 60, seconds % 60)
end

-- The progress line for one models/pullProgress (`p`), with the speed measured here between
-- lines of the same layer.
function M.progress_text(p, state)
  local text = 'quill: pulling ' .. tostring(p.model) .. ': ' .. tostring(p.status)
  local total, done = tonumber(p.total), tonumber(p.completed)
  if total and total > 0 then
    done = math.max(0, math.min(done or 0, total))
    text = text .. string.format(' %d%% of %s', math.floor(done * 100 / total), mb(total))
    local layer = state and type(p.digest) == 'string' and state.layers[p.digest]
    local now = uv.hrtime()
    if state and type(p.digest) == 'string' then
      if layer and done > layer.completed and now > layer.at_ns then
        local rate = (done - layer.completed) / ((now - layer.at_ns) / 1e9)
        -- smoothed: one slow line does not make the estimate jump
        layer.rate = layer.rate and (0.7 * layer.rate + 0.3 * rate) or rate
      end
      layer = layer or {}
      layer.at_ns, layer.completed = now, done
      state.layers[p.digest] = layer
    end
    if layer and layer.rate and layer.rate > 0 then
      text = text .. string.format(', %.1f MB/s, ETA %s', layer.rate / 1e6, clock((total - done) / layer.rate))
    end
  end
  return text
end

local function echo(text)
  -- one line (a control character from the server would make it several and ask for Enter), not
  -- kept in :messages: it is replaced by the next
  text = text:gsub('%c', ' ')
  vim.api.nvim_echo({ { vim.fn.strcharpart(text, 0, math.max(10, vim.o.columns - 12)) } }, false, {})
end

local function on_progress(params)
  if type(params) ~= 'table' or not current or params.model ~= current.model then
    return
  end
  echo(M.progress_text(params, current))
end

local function endpoint_name()
  local e = require('quill.config').endpoint() or { name = 'ollama', kind = 'ollama' }
  return e.name, e.kind
end

-- Pull `model` (nil: the configured one); on_done(ok) after it ended, when given.
function M.pull(model, on_done)
  local backend = require('quill.backend')
  model = (model and vim.trim(model) ~= '') and vim.trim(model) or require('quill.config').get().model
  local endpoint, kind = endpoint_name()
  if kind ~= 'ollama' then
    vim.notify(('quill: endpoint %s is OpenAI-compatible: only Ollama pulls models'):format(endpoint), levels.ERROR)
    return false
  end
  if current then
    vim.notify(('quill: %s is being pulled; :QuillCancel stops it'):format(current.model), levels.WARN)
    return false
  end
  if not registered then
    registered = true
    backend.on_notification('models/pullProgress', on_progress)
  end
  local state = { model = model, layers = {} }
  current = state
  echo('quill: pulling ' .. model .. '…')
  state.id = backend.request('models/pull', { model = model, endpoint = endpoint }, function(err)
    if current == state then
      current = nil
    end
    vim.cmd('redraw')
    if not err then
      vim.notify('quill: pulled ' .. model, levels.INFO)
    elseif err.code == backend.errors.RequestCancelled then
      vim.notify('quill: pull of ' .. model .. ' cancelled', levels.WARN)
    else
      vim.notify('quill: ' .. tostring(err.message):gsub('^quill: ', ''), levels.ERROR)
    end
    if on_done then
      on_done(err == nil)
    end
  end, { timeout_ms = false })
  return true
end

-- Stops the running pull; true if there was one.
function M.cancel()
  if not current then
    return false
  end
  require('quill.backend').cancel(current.id)
  return true
end

function M.running()
  return current ~= nil
end

-- After a chat failed with model_not_found: ask, and on `y` pull, then `resend()`.
function M.offer(model, resend)
  vim.ui.input({ prompt = ('quill: %s is not pulled. Pull it now? [y/N] '):format(model) }, function(answer)
    if answer and vim.trim(answer):lower():sub(1, 1) == 'y' then
      M.pull(model, function(ok)
        if ok and resend then
          resend()
        end
      end)
    end
  end)
end

return M
