#!/bin/sh
# Installs what relua needs on Debian 12 (as root), configures and builds.
# Usage: sh tools/setup.sh [extra cmake options]   (build directory: build/)
set -eu
cd "$(dirname "$0")/.."
PACKAGES="build-essential cmake pkg-config liblua5.4-dev lua5.4 libopenblas-dev libopenblas-openmp-dev libpng-dev
  zlib1g-dev libcmocka-dev libreadline-dev libonnx-testdata dataset-fashion-mnist"
if [ "$(dpkg-query -W -f='${Status}\n' $PACKAGES 2>/dev/null | grep -c 'install ok installed')" -ne "$(echo $PACKAGES | wc -w)" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
