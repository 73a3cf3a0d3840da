#!/usr/bin/env bash
# Installs the Debian 12 packages terraserve needs. Idempotent: packages that are
# already installed are skipped, and nothing runs apt when all are present.
#
# Usage: deploy/install-deps.sh [group ...]
#   build    compilers, gRPC, protobuf, Abseil, oneDNN, prometheus-cpp, SentencePiece, ... (default)
#   test     build + what the tests need: PyTorch reference, Python gRPC, Prometheus, promtool
#   runtime  shared libraries only (the slim Docker runtime stage)
#   train    PyTorch, SentencePiece and the English corpus used to train the bundled model
#   fuzz     clang and its libFuzzer runtime (`make fuzz`)
#   bench    build + the PyTorch comparison + matplotlib for the plots (`make bench`)
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libdnnl-dev ocl-icd-opencl-dev
  prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev grpc-proto
)
# PyTorch falls back to the slow reference BLAS without libopenblas0-pthread.
TRAIN_PKGS=(
  python3 python3-torch python3-numpy libopenblas0-pthread python3-sentencepiece
  fortunes fortunes-min
)
TEST_PKGS=(
  "${BUILD_PKGS[@]}" "${TRAIN_PKGS[@]}"
  python3-grpcio python3-protobuf python3-yaml prometheus curl procps yamllint openssl
)
FUZZ_PKGS=(clang-14 libclang-rt-14-dev)
BENCH_PKGS=("${BUILD_PKGS[@]}" "${TRAIN_PKGS[@]}" python3-matplotlib)
RUNTIME_PKGS=(
  libgrpc++1.51 libprotobuf32 libabsl20220623 libdnnl2 libgomp1
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 ca-certificates
)

groups=("$@")
[[ ${#groups[@]} -eq 0 ]] && groups=(build)
wanted=()
for g in "${groups[@]}"; do
  case "$g" in
    build) wanted+=("${BUILD_PKGS[@]}") ;;
    test) wanted+=("${TEST_PKGS[@]}") ;;
    train) wanted+=("${TRAIN_PKGS[@]}") ;;
    runtime) wanted+=("${RUNTIME_PKGS[@]}") ;;
    fuzz) wanted+=("${FUZZ_PKGS[@]}") ;;
    bench) wanted+=("${BENCH_PKGS[@]}") ;;
    *) echo "install-deps.sh: unknown group '$g' (build, test, train, runtime, fuzz, bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# De-duplicate while keeping order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps.sh: all packages for [${groups[*]}] are installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
APT=(apt-get -o DPkg::Lock::Timeout=600)
echo "install-deps.sh: installing ${missing[*]}"
$SUDO "${APT[@]}" update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}"
