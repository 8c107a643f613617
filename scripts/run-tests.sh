#!/bin/sh
# Runs every unit test binary and every integration script, then prints the
# closing line "N passed, N failed". Exit status is non-zero on any failure.
# TESTS="pattern" limits the run to test names containing the pattern.
# `run-tests.sh real` runs the real-program tests instead (tests/real/*.sh
# but lib.sh: redis-server, nginx, sqlite3, python3, java, node, git under
# `heapscope record`; `make check-real` installs them first).
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
if [ "${1:-}" = real ]; then
    for t in tests/real/*.sh; do
        [ -f "$t" ] && [ "$t" != tests/real/lib.sh ] && run "real/$(basename "$t" .sh)" timeout 300 sh "$t"
    done
else
    for t in "$BUILD"/unit/test_*; do
        [ -x "$t" ] && run "unit/$(basename "$t")" "$t"
    done
    # The fuzzer keeps one core busy for a fixed time: run it beside the rest
    # instead of before it (it reads only its own build; the others never touch it).
    bg_pid=""
    if [ -f tests/integration/fuzz.sh ] && [ -z "${TESTS:-}" ]; then
        mkdir -p "$BUILD/test-logs"
        (start=$(date +%s); timeout 300 sh tests/integration/fuzz.sh > "$BUILD/test-logs/integration_fuzz.bg.log" 2>&1
         echo "$? $(( $(date +%s) - start ))" > "$BUILD/test-logs/integration_fuzz.status") &
        bg_pid=$!
    fi
    for t in tests/integration/*.sh; do
        [ -f "$t" ] || continue
        [ -n "$bg_pid" ] && [ "$t" = tests/integration/fuzz.sh ] && continue
        run "integration/$(basename "$t" .sh)" timeout 300 sh "$t"
    done
    if [ -n "$bg_pid" ]; then
        wait "$bg_pid"
        read -r rc secs < "$BUILD/test-logs/integration_fuzz.status"
        run "integration/fuzz" sh -c "cat '$BUILD/test-logs/integration_fuzz.bg.log'; exit $rc"
        echo "      (fuzz ran in the background for ${secs}s)"
    fi
fi
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
