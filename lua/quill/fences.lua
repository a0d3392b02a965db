-- Fenced code in the chat, highlighted by its language under the light syntax
-- (syntax/quillchat.vim): the first fence that names a language includes that
-- language's Vim syntax into the buffer, once, inside such fences only. With
-- treesitter highlighting the markdown parser's injections do this instead.
--
-- The name comes from the model: only a plain word naming a syntax file on
-- 'runtimepath' is used, and a buffer takes at most MAX_LANGUAGES of them
-- (each include runs a syntax file on Neovim's loop).
local M = {}

local api = vim.api

M.MAX_LANGUAGES = 8
-- Fence names looked up on 'runtimepath' per buffer: a model naming thousands of made-up
-- languages must not make Neovim search the runtimepath thousands of times.
M.MAX_LOOKUPS = 32

local ALIASES = {
  bash = 'sh', shell = 'sh', console = 'sh', zsh = 'zsh',
  js = 'javascript', jsx = 'javascript', mjs = 'javascript',
  ts = 'typescript', tsx = 'typescript',
  py = 'python', python3 = 'python', rb = 'ruby', rs = 'rust', golang = 'go',
  ['c++'] = 'cpp', cxx = 'cpp', cc = 'cpp', hpp = 'cpp', ['c#'] = 'cs', csharp = 'cs',
  kt = 'kotlin', yml = 'yaml', vimscript = 'vim', viml = 'vim', ['objective-c'] = 'objc',
  ['docker'] = 'dockerfile', make = 'make', makefile = 'make', patch = 'diff', jsonc = 'json',
}

local tried = {} -- buf -> { ['word:' .. word] = true, count = languages included, lookups = searches }

-- The fence words of `line` ("```lua", "~~~ python"), or nil.
local function fence_word(line)
  return line:match('^%s*```+%s*([%w_+#.-]+)%s*$') or line:match('^%s*~~~+%s*([%w_+#.-]+)%s*$')
end

local function language(word)
  local lang = ALIASES[word:lower()] or word:lower()
  if not lang:match('^%a[%w_]*$') or lang == 'markdown' or lang == 'quillchat' then
    return nil
  end
  return lang
end

-- Vim regex for `word`, literally (`+`, `#` and `-` are literal without \v; `.` is not).
local function literal(word)
  return (word:gsub('%.', '\\.'))
end

local function include(buf, word, lang, seen)
  if seen.count >= M.MAX_LANGUAGES or #api.nvim_get_runtime_file('syntax/' .. lang .. '.vim', false) == 0 then
    return
  end
  local cluster = 'quillchatLang_' .. lang
  api.nvim_buf_call(buf, function()
    if not seen[lang] then
      seen[lang] = true
      seen.count = seen.count + 1
      local saved = vim.b.current_syntax
      vim.b.current_syntax = nil -- syntax files stop early when one is loaded
      local ok = pcall(vim.cmd, ('syntax include @%s syntax/%s.vim'):format(cluster, lang))
      vim.b.current_syntax = saved
      if not ok then
        return
      end
    end
    -- the language may have set its own sync; the chat's is kept
    vim.cmd(([[syntax region quillchatFenceLang matchgroup=quillchatFenceDelim ]]
      .. [[start=/^\s*\z(```\+\|\~\~\~\+\)\s*\c%s\s*$/ end=/^\s*\z1\s*$/ keepend contains=@%s]]):format(
      literal(word), cluster))
    vim.cmd('syntax sync minlines=200 maxlines=400')
  end)
end

-- Look at `lines` of chat buffer `buf` for fences that name a language not seen yet.
function M.highlight(buf, lines)
  if vim.bo[buf].syntax ~= 'quillchat' then
    return
  end
  local seen = tried[buf]
  if not seen then
    seen = { count = 0, lookups = 0 }
    tried[buf] = seen
  end
  for _, line in ipairs(lines) do
    local word = line:find('^%s*[`~][`~][`~]') and fence_word(line)
    if word and not seen['word:' .. word] and seen.lookups < M.MAX_LOOKUPS then
      seen['word:' .. word] = true
      local lang = language(word)
      if lang then
        seen.lookups = seen.lookups + 1
        include(buf, word, lang, seen)
      end
    end
  end
end

-- The buffer's syntax was set again (its includes are gone).
function M.forget(buf)
  tried[buf] = nil
end

return M
