#!/bin/sh
# The built library's exported and imported symbols (see scripts/audit-lib.sh),
# and its module graph: no cycle, nothing outside preload/ calls into it
# (scripts/audit-deps.sh); and the CLI's module graph: no cycle either.
set -eu
sh scripts/audit-lib.sh "${BUILD:-build}/libheapscope.so"
sh scripts/audit-deps.sh "${BUILD:-build}"
sh scripts/audit-deps.sh "${BUILD:-build}" cli
