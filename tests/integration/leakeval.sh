#!/bin/sh
# The whole leak-evaluation corpus (tests/leaks/, scripts/leakeval.sh): every
# leak found with the right top suspect and rate, no false positive, detection
# within one window. About two minutes (12 programs of 20 s, two at a time).
set -eu
sh scripts/leakeval.sh
