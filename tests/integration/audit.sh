#!/bin/sh
# The built library's exported and imported symbols (see scripts/audit-lib.sh).
set -eu
sh scripts/audit-lib.sh "${BUILD:-build}/libheapscope.so"
