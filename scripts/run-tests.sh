#!/bin/sh
# Runs every unit test binary and every integration script, then prints the
# closing line "N passed, N failed". Exit status is non-zero on any failure.
# TESTS="pattern" limits the run to test names containing the pattern.
pass=0; fail=0; failed=""
BUILD=${BUILD:-build}
export BUILD
run() {
    name=$1; shift
    case "$name" in *"${TESTS:-}"*) ;; *) return ;; esac
    start=$(date +%s)
    log="$BUILD/test-logs/$(echo "$name" | tr '/' '_').log"
    mkdir -p "$BUILD/test-logs"
    if "$@" >"$log" 2>&1; then
        pass=$((pass + 1)); echo "PASS  $name ($(( $(date +%s) - start ))s)"
    else
        fail=$((fail + 1)); failed="$failed $name"
        echo "FAIL  $name ($(( $(date +%s) - start ))s); last lines of $log:"
        tail -n 30 "$log" | sed 's/^/    /'
    fi
}
for t in "$BUILD"/unit/test_*; do
    [ -x "$t" ] && run "unit/$(basename "$t")" "$t"
done
for t in tests/integration/*.sh; do
    [ -f "$t" ] && run "integration/$(basename "$t" .sh)" timeout 300 sh "$t"
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
