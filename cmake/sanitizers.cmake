# ASan + UBSan for every target when QUILL_SANITIZE is on; UB aborts so tests fail loudly.
if(QUILL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
