#!/bin/sh
# Installs, builds and runs every test: the Release build, then the same
# suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-san/).
set -eu
cd "$(dirname "$0")/.."
sh tools/setup.sh
ctest --test-dir build --output-on-failure -j2
cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug -DRELUA_SANITIZE=ON -DRELUA_BUILD_BENCH=OFF >/dev/null
cmake --build build-san -j"$(nproc)"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-san --output-on-failure -j2
