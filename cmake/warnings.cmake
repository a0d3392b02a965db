# Warnings every target of ours gets; fatal when QUILL_WERROR is on (CI).
add_library(quill_warnings INTERFACE)
target_compile_options(quill_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wcast-align -Wimplicit-fallthrough -Wmissing-declarations
  $<$<BOOL:${QUILL_WERROR}>:-Werror>)
