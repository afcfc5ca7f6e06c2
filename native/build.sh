#!/usr/bin/env bash
# Builds the optional oneDNN convolution addon (native/build/headstart_dnnl.node).
# Needs a C++17 compiler and Debian's libdnnl-dev (apt-get install -y g++ libdnnl-dev); Node's
# N-API headers come from the Node installation or the npm package node-api-headers. Nothing is
# downloaded. Exits 1 with a message naming what is missing; with --if-possible it exits 0 after
# that message instead (for an optional install hook: no compiler or no oneDNN means no addon, and
# headstart keeps its ONNX Runtime path).
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
if ! echo '#include "oneapi/dnnl/dnnl.hpp"' | "$CXX" -std=c++17 -x c++ -fsyntax-only - >/dev/null 2>&1; then
  echo "native/build.sh: oneDNN headers not found; install Debian's libdnnl-dev (apt-get install -y libdnnl-dev)" >&2
  exit $missing
fi
mkdir -p build
if ! "$CXX" -O2 -std=c++17 -fPIC -shared -fopenmp -fvisibility=hidden -DNODE_GYP_MODULE_NAME=headstart_dnnl -I"$inc" \
  headstart_dnnl.cc headstart_plan.cc -o build/headstart_dnnl.node.tmp -ldnnl; then
  echo "native/build.sh: compiling headstart_dnnl.cc / headstart_plan.cc failed (oneDNN 2.x's API is expected; Debian bookworm has 2.6.3)" >&2
  rm -f build/headstart_dnnl.node.tmp
  exit $missing
fi
mv build/headstart_dnnl.node.tmp build/headstart_dnnl.node
echo "built native/build/headstart_dnnl.node (oneDNN $(dpkg-query -W -f='${Version}' libdnnl-dev 2>/dev/null || echo '?'), headers $inc)"
