-- A conversation: its id and title, the model, endpoint and tools it talks with, its messages
-- (protocol Messages, oldest first) and what its view showed around them (tool blocks, end
-- marks, stats), so that it can be saved, loaded and shown again as it was. No buffers here: the
-- chat view (chat.lua) renders one.
local M = {}

M.VERSION = 1
M.MAX_TITLE = 80

local uv = vim.uv or vim.loop
local serial = 0

-- Sortable by creation and unique within this machine: 20261202-140512-3f9a1.
local function new_id()
  serial = serial + 1
  return ('%s-%05x'):format(os.date('%Y%m%d-%H%M%S'), (uv.hrtime() / 1000 + serial * 7919) % 0x100000)
end

M.new_id = new_id

-- What an id may look like (it names the file the conversation is saved in).
function M.valid_id(id)
  return type(id) == 'string' and #id <= 64 and id:match('^[%w][%w%-_]*$') ~= nil
end

local activity = 0

-- Orders conversations used within the same second (c.activity, newest highest).
function M.touch(c)
  activity = activity + 1
  c.activity = activity
end

function M.new(opts)
  opts = opts or {}
  local now = os.time()
  return {
    id = opts.id or new_id(),
    title = opts.title, -- nil: the first line of the first prompt
    created = opts.created or now,
    updated = opts.updated or now,
    model = opts.model, -- nil: the configured one
    endpoint = opts.endpoint, -- nil: the configured one
    tools = opts.tools, -- nil: tools.enabled
    used_model = opts.used_model, -- the model and endpoint of the last answer (for the list)
    used_endpoint = opts.used_endpoint,
    history = opts.history or {},
    -- per message of history: { blocks = { {text, group}… }, mark = {text, group}, stats = text }
    -- (assistant), { prompt = as typed, attached = { compact line… } } (user, with attachments)
    extras = setmetatable({}, { __mode = 'k' }),
    notices = {}, -- notices already shown ("tools are off: …")
    turn = nil, -- the running session
  }
end

local function first_line(text)
  local line = vim.trim(((tostring(text or ''):match('^%s*([^\n]*)') or ''):gsub('%c', ' ')))
  if vim.fn.strchars(line) > M.MAX_TITLE then
    line = vim.fn.strcharpart(line, 0, M.MAX_TITLE - 1) .. '…'
  end
  return line
end

M.first_line = first_line

-- The title the user gave, else the first line of the first prompt.
function M.title(c)
  if c.title and c.title ~= '' then
    return c.title
  end
  for _, m in ipairs(c.history) do
    if m.role == 'user' then
      return first_line(m.content)
    end
  end
  return '(new chat)'
end

-- The first line of the last answer, for pickers.
function M.last_answer_line(c)
  for i = #c.history, 1, -1 do
    local m = c.history[i]
    if m.role == 'assistant' and type(m.content) == 'string' and vim.trim(m.content) ~= '' then
      return first_line(m.content)
    end
  end
  return ''
end

-- Saved form ---------------------------------------------------------------

function M.to_data(c)
  local extras = {}
  for i, m in ipairs(c.history) do
    local e = c.extras[m]
    if e then
      table.insert(extras, { index = i, blocks = e.blocks, mark = e.mark, stats = e.stats, prompt = e.prompt,
        attached = e.attached })
    end
  end
  return {
    version = M.VERSION,
    id = c.id,
    title = c.title,
    created = c.created,
    updated = c.updated,
    model = c.model,
    endpoint = c.endpoint,
    tools = c.tools,
    used_model = c.used_model,
    used_endpoint = c.used_endpoint,
    messages = c.history,
    extras = extras,
  }
end

-- A saved file is foreign input: every value is checked, sizes capped, unknown keys dropped.
local ROLES = { system = true, user = true, assistant = true, tool = true }
local GROUPS = { QuillTool = true, QuillError = true, QuillCancelled = true }
local MAX_LINE = 1000 -- a block, mark or stats line

local function str(v, max)
  if type(v) ~= 'string' then
    return nil
  end
  return max and #v > max and v:sub(1, max) or v
end

M.MAX_DEPTH = 32 -- of a call's arguments: the backend refuses deeper messages anyway

-- Whether table `t` nests at most `limit` levels (and holds at most `budget` values).
local function shallow(t, limit, budget)
  budget = budget or { n = 100000 }
  if limit < 0 then
    return false
  end
  for _, v in pairs(t) do
    budget.n = budget.n - 1
    if budget.n < 0 or (type(v) == 'table' and not shallow(v, limit - 1, budget)) then
      return false
    end
  end
  return true
end

local function call_of(v)
  if type(v) ~= 'table' or type(v.name) ~= 'string' then
    return nil
  end
  if type(v.arguments) == 'table' and not shallow(v.arguments, M.MAX_DEPTH) then
    return nil
  end
  return {
    name = v.name,
    arguments = type(v.arguments) == 'table' and v.arguments or vim.empty_dict(),
    id = str(v.id, 200),
  }
end

local function message_of(v)
  if type(v) ~= 'table' or not ROLES[v.role] or type(v.content) ~= 'string' then
    return nil
  end
  local m = { role = v.role, content = v.content }
  m.thinking = v.role == 'assistant' and str(v.thinking) or nil
  if v.role == 'assistant' and type(v.toolCalls) == 'table' and #v.toolCalls > 0 then
    m.toolCalls = {}
    for _, call in ipairs(v.toolCalls) do
      local ok_call = call_of(call)
      if not ok_call then
        return nil
      end
      table.insert(m.toolCalls, ok_call)
    end
  end
  if v.role == 'tool' then
    m.toolName = str(v.toolName, 200)
    m.toolCallId = str(v.toolCallId, 200)
  end
  return m
end

local function line_of(v)
  if type(v) ~= 'table' or type(v.text) ~= 'string' then
    return nil
  end
  return { text = (v.text:sub(1, MAX_LINE):gsub('[%c]', ' ')), group = GROUPS[v.group] and v.group or 'QuillTool' }
end

-- The conversation in `data` (a decoded file), or nil and why not.
function M.from_data(data)
  if type(data) ~= 'table' then
    return nil, 'not a JSON object'
  end
  if data.version ~= M.VERSION then
    return nil, ('version %s, not %d'):format(tostring(data.version), M.VERSION)
  end
  if not M.valid_id(data.id) then
    return nil, 'no valid id'
  end
  if type(data.messages) ~= 'table' then
    return nil, 'no messages'
  end
  local history = {}
  for i, v in ipairs(data.messages) do
    local m = message_of(v)
    if not m then
      return nil, ('message %d is not a Message'):format(i)
    end
    history[i] = m
  end
  local function time(v)
    return type(v) == 'number' and v == v and v >= 0 and v < 1e11 and math.floor(v) or os.time()
  end
  local c = M.new({
    id = data.id,
    title = str(data.title, 200) and (data.title:sub(1, 200):gsub('%c', ' ')) or nil,
    created = time(data.created),
    updated = time(data.updated),
    model = str(data.model, 300),
    endpoint = str(data.endpoint, 100),
    tools = type(data.tools) == 'boolean' and data.tools or nil,
    used_model = str(data.used_model, 300),
    used_endpoint = str(data.used_endpoint, 100),
    history = history,
  })
  for _, e in ipairs(type(data.extras) == 'table' and data.extras or {}) do
    local m = type(e) == 'table' and type(e.index) == 'number' and history[e.index]
    if m then
      -- the n-th block is the n-th call's: a bad one leaves a hole (the call's own label shows)
      local blocks = {}
      for j, b in ipairs(type(e.blocks) == 'table' and e.blocks or {}) do
        blocks[j] = line_of(b)
      end
      local attached = {}
      for _, label in ipairs(m.role == 'user' and type(e.attached) == 'table' and e.attached or {}) do
        local line = line_of({ text = label })
        table.insert(attached, line and line.text or '# ?')
      end
      c.extras[m] = {
        prompt = m.role == 'user' and #attached > 0 and str(e.prompt) or nil,
        attached = #attached > 0 and attached or nil,
        blocks = next(blocks) and blocks or nil,
        mark = line_of(e.mark),
        stats = str(e.stats, MAX_LINE) and (e.stats:sub(1, MAX_LINE):gsub('[%c]', ' ')) or nil,
      }
    end
  end
  return c
end

return M
