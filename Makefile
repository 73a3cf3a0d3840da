# terraserve: the two quick-start commands are `make run` and `make test`.
SHELL := /bin/bash
MODEL_DIR ?= models/terraformer-tiny
HOST ?= 127.0.0.1
PORT ?= 50051
METRICS_PORT ?= 9464
CTEST_ARGS ?=

.PHONY: run test build build-release deps deps-test python-test asan tsan fuzz format clean
FUZZ_SECONDS ?= 60

deps:
	deploy/install-deps.sh build

deps-test:
	deploy/install-deps.sh test

build-release: deps
	cmake --preset release
	cmake --build --preset release

build: deps-test
	cmake --preset debug
	cmake --build --preset debug

# Builds Release and starts the server with the bundled model.
run: build-release
	build/release/server/terraserve --model_dir=$(MODEL_DIR) --host=$(HOST) \
	  --port=$(PORT) --metrics_port=$(METRICS_PORT)

# Builds RelWithDebInfo and runs every test (C++ and Python) through ctest.
test: build
	cd build/debug && ctest --output-on-failure -j2 $(CTEST_ARGS)

asan: deps-test
	cmake --preset asan
	cmake --build --preset asan
	cd build/asan && ctest --output-on-failure -j2 $(CTEST_ARGS)

tsan: deps-test
	cmake --preset tsan
	cmake --build --preset tsan
	cd build/tsan && ctest --output-on-failure -j2 -L 'unit|integration' $(CTEST_ARGS)

# Each libFuzzer target for FUZZ_SECONDS, seeded from tests/fuzz/corpus (new inputs go
# to build/fuzz/corpus, so the repository's seeds stay small).
fuzz:
	deploy/install-deps.sh build fuzz
	cmake --preset fuzz
	cmake --build --preset fuzz
	for t in safetensors tokenizer stop_matcher request_validation; do \
	  mkdir -p build/fuzz/corpus/$$t && \
	  build/fuzz/tests/fuzz/$${t}_fuzzer -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    build/fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
