#!/usr/bin/env bash
# Builds the optional oneDNN convolution addon (native/build/headstart_dnnl.node).
# Needs a C++17 compiler and Debian's libdnnl-dev (apt-get install -y g++ libdnnl-dev); Node's
# N-API headers come from the Node installation or the npm package node-api-headers. Nothing is
# downloaded. Exits 1 with a message naming what is missing.
set -euo pipefail
cd "$(dirname "$0")"
CXX=${CXX:-c++}
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "native/build.sh: no C++ compiler ($CXX); install g++ (apt-get install -y g++)" >&2
  exit 1
fi
inc=""
for d in "$(dirname "$(command -v node)")/../include/node" /usr/include/node ../node_modules/node-api-headers/include; do
  if [ -f "$d/node_api.h" ]; then inc=$d; break; fi
done
if [ -z "$inc" ]; then
  echo "native/build.sh: node_api.h not found (Node's include/node folder or npm's node-api-headers)" >&2
  exit 1
fi
if ! echo '#include "oneapi/dnnl/dnnl.hpp"' | "$CXX" -std=c++17 -x c++ -fsyntax-only - >/dev/null 2>&1; then
  echo "native/build.sh: oneDNN headers not found; install Debian's libdnnl-dev (apt-get install -y libdnnl-dev)" >&2
  exit 1
fi
mkdir -p build
"$CXX" -O2 -std=c++17 -fPIC -shared -fopenmp -fvisibility=hidden -DNODE_GYP_MODULE_NAME=headstart_dnnl -I"$inc" \
  headstart_dnnl.cc -o build/headstart_dnnl.node.tmp -ldnnl
mv build/headstart_dnnl.node.tmp build/headstart_dnnl.node
echo "built native/build/headstart_dnnl.node (oneDNN $(dpkg-query -W -f='${Version}' libdnnl-dev 2>/dev/null || echo '?'), headers $inc)"
