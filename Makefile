# quill: `make build` builds the backend (the plugin manager's build step, any system);
# `make run` opens Neovim with the plugin; `make test` runs every test (Debian set-up included).
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
SANITIZE   ?= OFF
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all bootstrap configure build build-all test test-lua run fuzz bench format clean

all: build

# The backend only: no tests, no GoogleTest, warnings not fatal.
build:
	@scripts/build $(BUILD) $(JOBS)

bootstrap:
	@scripts/bootstrap

configure: bootstrap
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DQUILL_SANITIZE=$(SANITIZE) \
	  -DQUILL_BUILD_TESTS=ON $(CMAKE_ARGS) >$(BUILD).configure.log 2>&1 || { cat $(BUILD).configure.log; exit 1; }

# Everything: the backend, the fake server, the tests.
build-all: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build-all
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Only the headless-Neovim tests (NVIM=... picks the Neovim).
test-lua: build-all
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L lua

run: build-all
	@scripts/run-nvim

fuzz:
	@scripts/fuzz $(FUZZ_SECONDS)

bench: build-all
	@scripts/bench

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(BUILD).configure.log
