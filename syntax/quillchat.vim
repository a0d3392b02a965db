" quill chat buffers: light markdown highlighting. The chat keeps filetype=markdown
" (ftplugins, treesitter and render plugins still apply), but Neovim's markdown syntax pulls in
" all of HTML's and re-scans 50 lines per change, which a growing, streaming buffer pays on every
" redraw. These few rules cover what answers use: headers, fenced code, inline code, emphasis,
" lists and quotes; everything is one line except fences.
if exists('b:current_syntax')
  finish
endif

syn case match
syn sync minlines=200 maxlines=400

syn match quillchatHeader /^#\{1,6}\s.*$/ contains=@NoSpell
syn match quillchatListMarker /^\s*\%([-*+]\|\d\+[.)]\)\s/
syn match quillchatQuote /^>\s.*$/
syn match quillchatRule /^\s*\%([-*_]\s*\)\{3,}$/
syn region quillchatCode matchgroup=quillchatCodeDelim start=/`/ end=/`/ oneline keepend contains=@NoSpell
syn region quillchatCode matchgroup=quillchatCodeDelim start=/``/ end=/``/ oneline keepend contains=@NoSpell
syn region quillchatBold matchgroup=quillchatBoldDelim start=/\*\*\ze\S/ end=/\S\zs\*\*/ oneline keepend
syn region quillchatItalic matchgroup=quillchatItalicDelim start=/\%(^\|[^*[:alnum:]]\)\zs\*\ze[^* ]/ end=/[^* ]\zs\*/ oneline keepend
syn region quillchatFence matchgroup=quillchatFenceDelim start=/^\s*\z(```\+\|\~\~\~\+\).*$/ end=/^\s*\z1\s*$/ keepend contains=@NoSpell

hi def link quillchatHeader Title
hi def link quillchatListMarker Statement
hi def link quillchatQuote Comment
hi def link quillchatRule PreProc
hi def link quillchatCode String
hi def link quillchatCodeDelim Delimiter
hi def link quillchatFence String
hi def link quillchatFenceDelim Delimiter
hi def quillchatBold term=bold cterm=bold gui=bold
hi def link quillchatBoldDelim Delimiter
hi def quillchatItalic term=italic cterm=italic gui=italic
hi def link quillchatItalicDelim Delimiter

let b:current_syntax = 'quillchat'
