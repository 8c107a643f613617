#!/bin/sh
# format.sh - every C file is in the style .clang-format describes (clang-format 14);
# `make format` fixes a failure. Needs a git checkout (the files git tracks).
set -eu
command -v clang-format >/dev/null || { echo "format: FAIL: clang-format missing (sh scripts/deps.sh)" >&2; exit 1; }
make -s format-check
