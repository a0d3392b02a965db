-- "Shape" of JSON messages as defined in protocol/examples/README.md: every key
-- of the example exists in the real message with the same JSON type; objects
-- recursively, arrays by their first element (an empty array matches any).
local M = {}

local islist = vim.islist or vim.tbl_islist

-- JSON type of a decoded value ('missing' for nil).
function M.json_type(v)
  if v == nil then
    return 'missing'
  end
  if v == vim.NIL then
    return 'null'
  end
  local t = type(v)
  if t ~= 'table' then
    return t
  end
  if next(v) == nil then
    -- vim.json.decode marks `{}` with a metatable; a bare empty table is `[]`.
    return getmetatable(v) ~= nil and 'object' or 'array'
  end
  return islist(v) and 'array' or 'object'
end

local function join(path, key)
  return path == '' and key or (path .. '.' .. key)
end

local function walk(example, actual, path, optional, errs)
  local et, at = M.json_type(example), M.json_type(actual)
  if at == 'missing' then
    if not optional[path] then
      table.insert(errs, path .. ': missing (example has ' .. et .. ')')
    end
    return
  end
  if et ~= at then
    table.insert(errs, path .. ': expected ' .. et .. ', got ' .. at)
    return
  end
  if et == 'object' then
    local keys = vim.tbl_keys(example)
    table.sort(keys)
    for _, k in ipairs(keys) do
      walk(example[k], actual[k], join(path, k), optional, errs)
    end
  elseif et == 'array' and #example > 0 and #actual > 0 then
    walk(example[1], actual[1], path .. '[]', optional, errs)
  end
end

-- Returns the list of mismatches (empty: same shape). `optional` is a list of
-- dotted paths ('a.b', 'a[].c') that may be absent; `prefix` is the path of
-- `example` inside its message (e.g. 'params').
function M.diff(example, actual, optional, prefix)
  local set = {}
  for _, p in ipairs(optional or {}) do
    set[p] = true
  end
  local errs = {}
  walk(example, actual, prefix or '', set, errs)
  return errs
end

-- The value at a dotted path ('a.b', 'a[].c'), or nil.
function M.get(value, path)
  for part in path:gmatch('[^.]+') do
    local key, arr = part:match('^(.-)(%[%])$')
    key = key or part
    if type(value) ~= 'table' then
      return nil
    end
    value = value[key]
    if arr then
      value = type(value) == 'table' and value[1] or nil
    end
  end
  return value
end

return M
