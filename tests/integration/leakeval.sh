#!/bin/sh
# The whole leak-evaluation corpus (tests/leaks/, scripts/leakeval.sh): every
# leak found with the right top suspect and rate, no false positive, detection
# within one window. About 80 s (14 programs of 20 s, four at a time).
set -eu
# The programs mostly sleep between bursts, so four at a time fit on two cores.
LEAKEVAL_JOBS=${LEAKEVAL_JOBS:-4} sh scripts/leakeval.sh
