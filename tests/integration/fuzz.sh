#!/bin/sh
# Fuzzes the dump reader and the model (tests/fuzz/fuzz_dump.c) and the live
# service's request parser (tests/fuzz/fuzz_http.c) for FUZZ_SECONDS (default
# 60, half each) through `make fuzz`, so `make check` and CI fuzz on every
# run. Prints libFuzzer's final figures (runs, execs/s, coverage);
# fails when the fuzzer finds a crash, leak, timeout or out-of-memory input,
# naming the reproducer (run it again with: build/fuzz/fuzz_dump FILE, or
# build/fuzz/fuzz_http for the http-* files).
set -eu
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
log=$BUILD/fuzz/fuzz.log
mkdir -p "$BUILD/fuzz"
fail() { echo "FAIL: $*" >&2; exit 1; }

rc=0
make --no-print-directory BUILD="$BUILD" fuzz FUZZ_SECONDS="$FUZZ_SECONDS" >"$log" 2>&1 || rc=$?
grep '^seeds.sh:' "$log" || :
# The last status line ("#N DONE cov: C ft: F corp: ... exec/s: E rss: R")
# and "Done N runs in S second(s)".
grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || :
grep -E '^Done [0-9]+ runs' "$log" || :
if [ "$rc" != 0 ]; then
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 5 >&2 || :
    grep -E '^    #[0-9]+ ' "$log" | grep -v 'fuzzer::' | head -n 12 >&2 || :
    [ -n "$artifact" ] || { tail -n 30 "$log" >&2; fail "make fuzz exited $rc (log: $log)"; }
    if [ "$(wc -c <"$artifact")" -le 512 ]; then
        echo "reproducer bytes:" >&2
        od -An -tx1 -v "$artifact" >&2
    fi
    case $artifact in */http-*) target=fuzz_http ;; *) target=fuzz_dump ;; esac
    fail "the fuzzer found a crashing input: $artifact (reproduce: $BUILD/fuzz/$target $artifact; log: $log)"
fi
[ "$(grep -c '^Done [0-9]* runs' "$log")" -ge 2 ] || { tail -n 30 "$log" >&2; fail "no final libFuzzer stats of both targets in $log"; }
echo "ok: fuzzed the reader and the model, then the HTTP request parser, for ${FUZZ_SECONDS}s in all without a crash"
