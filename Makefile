# terraserve: the two quick-start commands are `make run` and `make test`.
SHELL := /bin/bash
MODEL_DIR ?= models/terraformer-tiny
HOST ?= 127.0.0.1
PORT ?= 50051
METRICS_PORT ?= 9464
CTEST_ARGS ?=

.PHONY: run test build build-release deps deps-test python-test asan tsan fuzz soak bench format clean
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 600

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

# Builds RelWithDebInfo and runs every test (C++ and Python) through ctest; the
# soak has its own target.
test: build
	cd build/debug && ctest --output-on-failure -j2 -LE soak $(CTEST_ARGS)

# Mixed load with cancellations against the real server for SOAK_SECONDS; the
# figures go to build/debug/soak_report.json.
soak: build
	cd build/debug && TERRASERVE_SOAK_SECONDS=$(SOAK_SECONDS) \
	  TERRASERVE_SOAK_REPORT=$(CURDIR)/build/debug/soak_report.json \
	  ctest --output-on-failure -L soak $(CTEST_ARGS)

# The whole suite (soak aside) under AddressSanitizer + UBSan.
asan: deps-test
	cmake --preset asan
	cmake --build --preset asan
	cd build/asan && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure -j2 -LE soak $(CTEST_ARGS)

# The scheduler, server and thread-team unit tests, and the Sparse FF row that
# shares one region's phases over the team, under ThreadSanitizer. The
# integration tests are not: Debian's gRPC is not built with TSan, so it cannot
# see gRPC's own synchronisation and reports false races in gRPC's header code.
TSAN_TARGETS := scheduler_test stop_matcher_test batch_planner_test status_util_test \
  delivery_thread_test \
  server_options_test thread_team_test sparse_ff_test
tsan: deps-test
	cmake --preset tsan
	cmake --build --preset tsan --target $(TSAN_TARGETS)
	cd build/tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --output-on-failure -j2 -L unit $(CTEST_ARGS) \
	  -R '^(SchedulerTest|StopMatcherTest|BatchPlannerTest|StatusUtilTest|DeliveryThreadTest|ServerOptionsTest|ThreadTeamTest|SparseFfOneRowTest)\.' 

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

# Regenerates the performance figures and plots in docs/bench (about 10-15
# minutes on a 2-core machine): the engine at the medium shapes with the PyTorch
# reference beside it, a context sweep, and the server under load.
bench: build-release
	deploy/install-deps.sh bench
	build/release/bench/terraserve-bench --configs=medium-dense,medium-sparse \
	  --batch_sizes=1,4,16,64 --contexts=256 --decode_steps=16 --pytorch --interleave \
	  --json_out=docs/bench/engine.json | tee docs/bench/engine.txt
	build/release/bench/terraserve-bench --configs=medium-dense,medium-sparse \
	  --batch_sizes=1 --contexts=64,1024 --decode_steps=16 --ff_layers=false \
	  --json_out=docs/bench/engine_contexts.json | tee docs/bench/engine_contexts.txt
	build/release/bench/terraserve-bench --configs=medium-dense,medium-sparse \
	  --kv_cache_dtypes=f32,bf16 --batch_sizes=1,16 --contexts=256 --decode_steps=16 \
	  --ff_layers=false --json_out=docs/bench/kv_dtypes.json | tee docs/bench/kv_dtypes.txt
	build/release/bench/terraserve-bench --configs=medium-dense,medium-sparse \
	  --dense_kernels=onednn,packed --batch_sizes=1,16 --contexts=256 --decode_steps=16 \
	  --ff_layers=false --json_out=docs/bench/dense_kernels.json | tee docs/bench/dense_kernels.txt
	bench/server_bench.sh bench/configs/medium-sparse-v2048.json docs/bench 2 \
	  | tee docs/bench/server.txt
	bench/server_bench.sh bench/configs/medium-dense-v2048.json docs/bench 2 \
	  | tee docs/bench/server_dense.txt
	/usr/bin/python3 bench/plot.py --engine docs/bench/engine.json \
	  --load 'docs/bench/medium-sparse-v2048_load_c*.json' --out docs/bench

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
