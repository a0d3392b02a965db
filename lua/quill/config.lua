-- quill configuration: one defaults table, deep merge, validation.
local M = {}

-- Defaults. Keys whose default is nil are listed in `schema` below so that they
-- are still known options.
local defaults = {
  -- Path of the quill-backend binary. nil: $QUILL_BACKEND, else <plugin root>/build/quill-backend.
  backend_cmd = nil,
  -- Ollama base URL. nil: the backend uses $OLLAMA_HOST, else http://127.0.0.1:11434.
  host = nil,
  -- Extra HTTP headers sent to the provider, e.g. { Authorization = 'Bearer ...' }.
  headers = {},
  -- More servers, by name: { NAME = { kind = 'ollama'|'openai', url = '...', headers = {...},
  -- api_key_env = 'VAR', tools = 'auto'|true|false, model = '...' } }. `host` and `headers`
  -- above are the Ollama endpoint named 'ollama'. See :help quill-endpoints.
  endpoints = {},
  -- The endpoint chats use (nil: 'ollama'); :QuillEndpoint switches it.
  endpoint = nil,
  -- Model used for new chats.
  model = 'llama3.2',
  -- System prompt sent with every chat (nil: none).
  system_prompt = nil,
  -- Ollama generation options (temperature, num_ctx, ...), passed through as is.
  options = {},
  -- Where the backend writes its log (and where backend stderr lines are appended).
  log_file = vim.fn.stdpath('cache') .. '/quill-backend.log',
  -- Backend log level.
  log_level = 'info',
  -- Time limit for requests other than chat turns.
  request_timeout_ms = 10000,
  -- Provider time limits, forwarded to the backend.
  timeouts = {
    connect_ms = 5000, -- TCP/TLS connect
    first_byte_ms = 300000, -- until the first byte of the answer (model load can be slow)
    idle_ms = 60000, -- longest silence inside a streaming answer
  },
  -- Root that tool paths resolve against. nil: the current directory when the backend starts.
  workspace_root = nil,
  -- Chat window layout.
  chat = {
    position = 'right', -- left, right, top, bottom
    size = 0.4, -- below 1: a fraction of the screen; else columns (left/right) or lines (top/bottom)
    -- 'light': quill's own markdown highlighting (cheap while streaming); 'markdown': Neovim's
    syntax = 'light',
    -- A turn's answer, and separately its thinking, stop at this many bytes: [stopped: ...].
    max_answer_bytes = 4194304,
    -- #buffer, #selection, #diagnostics and #file:PATH in a question add at most this much.
    max_context_bytes = 65536,
    -- A thinking model's thinking: a "Thinking… N s" line while it streams, then the text in a
    -- closed fold under it. false: not shown at all (never part of the answer either way).
    show_thinking = true,
  },
  -- Tools the model may call in the chat (never in :QuillInsert). See :help quill-tools.
  tools = {
    enabled = true, -- offer the tools when the model supports them
    -- nil: every tool; else the only ones offered, e.g. { 'read_file', 'list_files' } (read-only)
    offer = nil,
    auto_approve = false, -- apply edits and create files without asking
    write = false, -- write accepted edits and new files to disk (else they stay unsaved in buffers)
    max_read_bytes = 204800, -- read_file cuts its content here (truncated)
    max_files = 1000, -- list_files returns at most this many paths (truncated)
    max_rounds = 8, -- model rounds that may call tools in one turn
    max_edit_bytes = 1048576, -- edit_file refuses bigger files (before loading them)
    -- Files whose path has a component matching one of these globs (case-insensitive) are
    -- sensitive, like anything under .git and git-ignored files: read_file asks first
    -- (deny_policy = 'ask') or refuses ('refuse'); list_files leaves them out.
    deny = {
      '.env*', '*.pem', '*.key', '*.p12', '*.pfx', '*.jks', '*.keystore', '*.kdbx',
      'id_rsa*', 'id_dsa*', 'id_ecdsa*', 'id_ed25519*', '.ssh', '.gnupg', '.aws',
      '.netrc', '_netrc', '.npmrc', '.pypirc', '.pgpass', '.htpasswd',
      '.git-credentials', 'credentials*', 'secrets*',
    },
    deny_policy = 'ask', -- 'ask' or 'refuse'
  },
  -- Chat buffer keymaps; false disables one.
  keymaps = {
    send = '<CR>',
    send_insert = '<C-s>',
    cancel = '<C-c>',
    close = 'q', -- close the chat window
    help = 'g?', -- list the chat's keys
    next_turn = ']]', -- the next `## You` / `## Assistant` header
    prev_turn = '[[', -- the previous one
    yank_code = 'gy', -- yank the fenced code block under the cursor
    open_file = 'gf', -- on a tool call block: open its file (elsewhere: Neovim's gf)
  },
}

local LOG_LEVELS = { 'error', 'warn', 'info', 'debug', 'trace' }
local POSITIONS = { 'left', 'right', 'top', 'bottom' }

local function fail(msg)
  error('quill: ' .. msg, 0)
end

local function show(v)
  if type(v) == 'string' then
    return "'" .. v .. "'"
  end
  if type(v) == 'table' then
    return 'a table'
  end
  return tostring(v)
end

-- Checkers return nil when `v` is fine, else the "must be ..." part of the message.
local function optional(check)
  return function(v)
    if v == nil then
      return nil
    end
    return check(v)
  end
end

local function is_string(v)
  if type(v) ~= 'string' or v == '' then
    return 'must be a non-empty string (got ' .. show(v) .. ')'
  end
end

local function is_pos_int(v)
  if type(v) ~= 'number' or v <= 0 or v % 1 ~= 0 then
    return 'must be a positive integer (got ' .. show(v) .. ')'
  end
end

-- A fraction of the screen (0 < v < 1) or a whole number of columns or lines.
local function is_size(v)
  if type(v) ~= 'number' or v <= 0 or v ~= v or (v >= 1 and v % 1 ~= 0) or v == math.huge then
    return 'must be a fraction below 1 or a positive integer (got ' .. show(v) .. ')'
  end
end

local function one_of(list)
  return function(v)
    if not vim.tbl_contains(list, v) then
      return 'must be one of ' .. table.concat(list, ', ') .. ' (got ' .. show(v) .. ')'
    end
  end
end

local function is_bool(v)
  if type(v) ~= 'boolean' then
    return 'must be a boolean (got ' .. show(v) .. ')'
  end
end

local function is_table(v)
  if type(v) ~= 'table' then
    return 'must be a table (got ' .. show(v) .. ')'
  end
end

local function string_map(v)
  if type(v) ~= 'table' then
    return 'must be a table of strings (got ' .. show(v) .. ')'
  end
  for k, val in pairs(v) do
    if type(k) ~= 'string' or type(val) ~= 'string' then
      return 'must be a table of strings (entry ' .. show(k) .. ' is ' .. show(val) .. ')'
    end
  end
end

local ENDPOINT_KEYS = { 'kind', 'url', 'headers', 'api_key_env', 'tools', 'model', 'options' }

local function endpoint_problem(name, e)
  if type(name) ~= 'string' or not name:match('^[%w_.-]+$') or #name > 64 then
    return 'names must be 1-64 letters, digits, _ - . (got ' .. show(name) .. ')'
  end
  local at = "'" .. name .. "'"
  if type(e) ~= 'table' then
    return 'entry ' .. at .. ' must be a table (got ' .. show(e) .. ')'
  end
  for key in pairs(e) do
    if not vim.tbl_contains(ENDPOINT_KEYS, key) then
      return 'entry ' .. at .. ' has an unknown key ' .. show(key) .. ' (known: ' .. table.concat(ENDPOINT_KEYS, ', ') .. ')'
    end
  end
  if e.kind ~= 'ollama' and e.kind ~= 'openai' then
    return 'entry ' .. at .. ": kind must be 'ollama' or 'openai' (got " .. show(e.kind) .. ')'
  end
  if e.kind == 'openai' and (type(e.url) ~= 'string' or not e.url:match('^https?://')) then
    return 'entry ' .. at .. ': url must start with http:// or https:// (got ' .. show(e.url) .. ')'
  end
  if e.url ~= nil and (type(e.url) ~= 'string' or e.url == '') then
    return 'entry ' .. at .. ': url must be a non-empty string (got ' .. show(e.url) .. ')'
  end
  if e.headers ~= nil then
    local problem = string_map(e.headers)
    if problem then
      return 'entry ' .. at .. ': headers ' .. problem
    end
  end
  if e.api_key_env ~= nil and (type(e.api_key_env) ~= 'string' or not e.api_key_env:match('^[%a_][%w_]*$')) then
    return 'entry ' .. at .. ': api_key_env must be an environment variable name (got ' .. show(e.api_key_env) .. ')'
  end
  if e.tools ~= nil and e.tools ~= 'auto' and type(e.tools) ~= 'boolean' then
    return 'entry ' .. at .. ": tools must be 'auto', true or false (got " .. show(e.tools) .. ')'
  end
  if e.options ~= nil and type(e.options) ~= 'table' then
    return 'entry ' .. at .. ': options must be a table (got ' .. show(e.options) .. ')'
  end
  if e.model ~= nil and (type(e.model) ~= 'string' or e.model == '') then
    return 'entry ' .. at .. ': model must be a non-empty string (got ' .. show(e.model) .. ')'
  end
end

local function endpoint_map(v)
  if type(v) ~= 'table' then
    return 'must be a table of endpoints by name (got ' .. show(v) .. ')'
  end
  for _, name in ipairs(vim.tbl_keys(v)) do
    local problem = endpoint_problem(name, v[name])
    if problem then
      return problem
    end
  end
end

-- A list of globs for one path component: non-empty strings without '/' or control bytes.
local function glob_list(v)
  if type(v) ~= 'table' or (next(v) ~= nil and not vim.tbl_islist(v)) then
    return 'must be a list of strings (got ' .. show(v) .. ')'
  end
  for i, pat in ipairs(v) do
    if type(pat) ~= 'string' or pat == '' or pat:find('/', 1, true) or pat:find('[%z\1-\31\127]') then
      return 'must be a list of file name globs without "/" (entry ' .. i .. ' is ' .. show(pat) .. ')'
    end
  end
end

local TOOL_NAMES = { 'read_file', 'list_files', 'edit_file', 'create_file' }

local function tool_list(v)
  if type(v) ~= 'table' or next(v) == nil or not vim.tbl_islist(v) then
    return 'must be a non-empty list of tool names (' .. table.concat(TOOL_NAMES, ', ') .. '; got ' .. show(v) .. ')'
  end
  for _, name in ipairs(v) do
    if not vim.tbl_contains(TOOL_NAMES, name) then
      return 'must list only ' .. table.concat(TOOL_NAMES, ', ') .. ' (got ' .. show(name) .. ')'
    end
  end
end

local function key_or_false(v)
  if v ~= false and (type(v) ~= 'string' or v == '') then
    return 'must be a key sequence string or false (got ' .. show(v) .. ')'
  end
end

-- Nested tables are validated key by key so errors name e.g. 'timeouts.idle_ms'.
local schema = {
  backend_cmd = optional(is_string),
  host = optional(is_string),
  headers = string_map,
  endpoints = endpoint_map,
  endpoint = optional(is_string),
  model = is_string,
  system_prompt = optional(is_string),
  options = is_table,
  log_file = is_string,
  log_level = one_of(LOG_LEVELS),
  request_timeout_ms = is_pos_int,
  timeouts = { connect_ms = is_pos_int, first_byte_ms = is_pos_int, idle_ms = is_pos_int },
  workspace_root = optional(is_string),
  chat = {
    position = one_of(POSITIONS),
    size = is_size,
    syntax = one_of({ 'light', 'markdown' }),
    max_answer_bytes = is_pos_int,
    max_context_bytes = is_pos_int,
    show_thinking = is_bool,
  },
  tools = {
    enabled = is_bool,
    offer = optional(tool_list),
    auto_approve = is_bool,
    write = is_bool,
    max_read_bytes = is_pos_int,
    max_files = is_pos_int,
    max_rounds = is_pos_int,
    max_edit_bytes = is_pos_int,
    deny = glob_list,
    deny_policy = one_of({ 'ask', 'refuse' }),
  },
  keymaps = {
    send = key_or_false,
    send_insert = key_or_false,
    cancel = key_or_false,
    close = key_or_false,
    help = key_or_false,
    next_turn = key_or_false,
    prev_turn = key_or_false,
    yank_code = key_or_false,
    open_file = key_or_false,
  },
}

local function sorted_keys(t)
  local keys = vim.tbl_keys(t)
  table.sort(keys)
  return keys
end

-- Unknown keys are checked on the user's opts (the merge would hide nothing, but
-- this gives the user's own spelling back).
local function check_unknown(opts, spec, prefix)
  for _, key in ipairs(sorted_keys(opts)) do
    local name = prefix .. tostring(key)
    local sub = spec[key]
    if sub == nil then
      fail("unknown option '" .. name .. "'")
    end
    if type(sub) == 'table' then
      if type(opts[key]) ~= 'table' then
        fail("option '" .. name .. "' must be a table (got " .. show(opts[key]) .. ')')
      end
      check_unknown(opts[key], sub, name .. '.')
    end
  end
end

local function check_values(cfg, spec, prefix)
  for _, key in ipairs(sorted_keys(spec)) do
    local sub = spec[key]
    local name = prefix .. key
    if type(sub) == 'table' then
      check_values(cfg[key], sub, name .. '.')
    else
      local problem = sub(cfg[key])
      if problem then
        fail("option '" .. name .. "' " .. problem)
      end
    end
  end
end

local current = nil

-- Merge `opts` over the defaults (never over a previous setup) and validate.
-- On error nothing changes and the error message starts with 'quill: '.
function M.setup(opts)
  if opts ~= nil and type(opts) ~= 'table' then
    fail('setup() expects a table (got ' .. show(opts) .. ')')
  end
  opts = opts or {}
  check_unknown(opts, schema, '')
  local cfg = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts)
  -- a list replaces the default list (deep_extend would merge an empty one into it)
  if type(opts.tools) == 'table' and type(opts.tools.deny) == 'table' then
    cfg.tools.deny = vim.deepcopy(opts.tools.deny)
  end
  if type(opts.tools) == 'table' and type(opts.tools.offer) == 'table' then
    cfg.tools.offer = vim.deepcopy(opts.tools.offer)
  end
  -- an endpoints table replaces the default one whole (names are the user's)
  if type(opts.endpoints) == 'table' then
    cfg.endpoints = vim.deepcopy(opts.endpoints)
  end
  check_values(cfg, schema, '')
  if cfg.endpoint and cfg.endpoint ~= 'ollama' and not cfg.endpoints[cfg.endpoint] then
    fail("option 'endpoint' names no endpoint: " .. show(cfg.endpoint) .. ' (configured: '
      .. table.concat(M.endpoint_names(cfg), ', ') .. ')')
  end
  if cfg.endpoint and cfg.endpoints[cfg.endpoint] and cfg.endpoints[cfg.endpoint].model
      and not (opts.model) then
    cfg.model = cfg.endpoints[cfg.endpoint].model
  end
  current = cfg
  return cfg
end

-- Every endpoint's name, sorted: 'ollama' (from host and headers) is always one.
function M.endpoint_names(cfg)
  cfg = cfg or M.get()
  local names = vim.tbl_keys(cfg.endpoints)
  if not cfg.endpoints.ollama then
    table.insert(names, 'ollama')
  end
  table.sort(names)
  return names
end

-- The endpoint `name` (nil: the current one) as { name, kind, url?, tools, model? }, or nil.
function M.endpoint(name, cfg)
  cfg = cfg or M.get()
  name = name or cfg.endpoint or 'ollama'
  local e = cfg.endpoints[name]
  if e then
    return { name = name, kind = e.kind, url = e.url, tools = e.tools == nil and 'auto' or e.tools, model = e.model,
      options = e.options }
  end
  if name == 'ollama' then
    return { name = 'ollama', kind = 'ollama', url = cfg.host, tools = 'auto' }
  end
  return nil
end

-- Current configuration (the defaults if setup() was never called).
function M.get()
  if not current then
    current = vim.deepcopy(defaults)
  end
  return current
end

-- A fresh copy of the defaults, for docs and tests.
function M.defaults()
  return vim.deepcopy(defaults)
end

return M
