# quill: `make run` opens Neovim with the plugin; `make test` runs every test.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
SANITIZE   ?= OFF
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all bootstrap configure build test test-lua run fuzz bench format clean

all: build

bootstrap:
	@scripts/bootstrap

configure: bootstrap
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DQUILL_SANITIZE=$(SANITIZE) \
	  $(CMAKE_ARGS) >$(BUILD).configure.log 2>&1 || { cat $(BUILD).configure.log; exit 1; }

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Only the headless-Neovim tests (NVIM=... picks the Neovim).
test-lua: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L lua

run: build
	@scripts/run-nvim

fuzz:
	@scripts/fuzz $(FUZZ_SECONDS)

bench: build
	@scripts/bench

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(BUILD).configure.log
