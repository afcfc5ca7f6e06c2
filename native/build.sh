#!/usr/bin/env bash
# Builds the optional native addons, each on its own (one missing library does not stop the other):
# - native/build/headstart_dnnl.node: oneDNN convolutions and the all-native training step; needs
#   Debian's libdnnl-dev (apt-get install -y g++ libdnnl-dev);
# - native/build/headstart_image.node: the loader's JPEG decode + PIL resampler; needs Debian's
#   libjpeg62-turbo-dev (apt-get install -y g++ libjpeg62-turbo-dev);
# - native/build/headstart_optim.node: the optimisers' updates (SGD, Adam/AdamW) in C++; needs only g++.
# Node's N-API headers come from the Node installation or the npm package node-api-headers. Nothing
# is downloaded. Exits 1 with a message naming what is missing; with --if-possible it exits 0 after
# that message instead (for an optional install hook: no compiler or no library means no addon, and
# headstart keeps its ONNX Runtime and sharp paths).
set -euo pipefail
cd "$(dirname "$0")"
CXX=${CXX:-c++}
missing=1
[ "${1:-}" = "--if-possible" ] && missing=0
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "native/build.sh: no C++ compiler ($CXX); install g++ (apt-get install -y g++)" >&2
  exit $missing
fi
inc=""
for d in "$(dirname "$(command -v node)")/../include/node" /usr/include/node ../node_modules/node-api-headers/include; do
  if [ -f "$d/node_api.h" ]; then inc=$d; break; fi
done
if [ -z "$inc" ]; then
  echo "native/build.sh: node_api.h not found (Node's include/node folder or npm's node-api-headers)" >&2
  exit $missing
fi
mkdir -p build
status=0

build_dnnl() {
  if ! echo '#include "oneapi/dnnl/dnnl.hpp"' | "$CXX" -std=c++17 -x c++ -fsyntax-only - >/dev/null 2>&1; then
    echo "native/build.sh: oneDNN headers not found; install Debian's libdnnl-dev (apt-get install -y libdnnl-dev)" >&2
    return 1
  fi
  if ! "$CXX" -O2 -std=c++17 -fPIC -shared -fopenmp -fvisibility=hidden -DNODE_GYP_MODULE_NAME=headstart_dnnl -I"$inc" \
    headstart_dnnl.cc headstart_plan.cc -o build/headstart_dnnl.node.tmp -ldnnl; then
    echo "native/build.sh: compiling headstart_dnnl.cc / headstart_plan.cc failed (oneDNN 2.x's API is expected; Debian bookworm has 2.6.3)" >&2
    rm -f build/headstart_dnnl.node.tmp
    return 1
  fi
  mv build/headstart_dnnl.node.tmp build/headstart_dnnl.node
  echo "built native/build/headstart_dnnl.node (oneDNN $(dpkg-query -W -f='${Version}' libdnnl-dev 2>/dev/null || echo '?'), headers $inc)"
}

build_image() {
  if ! printf '#include <cstdio>\n#include <jpeglib.h>\n' | "$CXX" -std=c++17 -x c++ -fsyntax-only - >/dev/null 2>&1; then
    echo "native/build.sh: libjpeg headers not found; install Debian's libjpeg62-turbo-dev (apt-get install -y libjpeg62-turbo-dev)" >&2
    return 1
  fi
  # -ffp-contract=off: the resampler's coefficients must round as the JS port's (no fused multiply-add).
  if ! "$CXX" -O3 -std=c++17 -fPIC -shared -fvisibility=hidden -ffp-contract=off -DNODE_GYP_MODULE_NAME=headstart_image -I"$inc" \
    headstart_image.cc -o build/headstart_image.node.tmp -ljpeg; then
    echo "native/build.sh: compiling headstart_image.cc failed (libjpeg-turbo 2.x is expected; Debian bookworm has 2.1.5)" >&2
    rm -f build/headstart_image.node.tmp
    return 1
  fi
  mv build/headstart_image.node.tmp build/headstart_image.node
  echo "built native/build/headstart_image.node (libjpeg-turbo $(dpkg-query -W -f='${Version}' libjpeg62-turbo-dev 2>/dev/null || echo '?'))"
}

build_optim() {
  # -ffp-contract=off, no fast-math: the updates must round exactly as the JS loops in src/optim (no fused
  # multiply-add); -fno-math-errno only lets sqrt vectorise (errno is never read).
  if ! "$CXX" -O3 -std=c++17 -fPIC -shared -pthread -fvisibility=hidden -ffp-contract=off -fno-math-errno -DNODE_GYP_MODULE_NAME=headstart_optim -I"$inc" \
    headstart_optim.cc -o build/headstart_optim.node.tmp; then
    echo "native/build.sh: compiling headstart_optim.cc failed" >&2
    rm -f build/headstart_optim.node.tmp
    return 1
  fi
  mv build/headstart_optim.node.tmp build/headstart_optim.node
  echo "built native/build/headstart_optim.node"
}

build_dnnl || status=$missing
build_image || status=$missing
build_optim || status=$missing
exit $status
