#!/bin/sh
# prom.sh - common/hs_prom.c writes Prometheus text format 0.0.4 that
# Prometheus itself accepts: builds tests/tools/prom_sample.c (the process_*
# families, counters, floats, infinities and a labelled gauge with quotes,
# backslashes, newlines and UTF-8 in its label values) and runs `promtool
# check metrics` on its output, which must pass without a lint remark. Then
# shows promtool is a real judge: the same text with one label escape
# broken, a raw newline in a value, a bad escape or a family split in two
# fails. Run from the repository root; $BUILD defaults to build.
T=prom
# shellcheck disable=SC1091 # sourced from the repository root
. tests/lib.sh

CC=${CC:-cc}
PROMTOOL=${PROMTOOL:-promtool}
command -v "$PROMTOOL" >/dev/null 2>&1 || fail "promtool missing (Debian package prometheus; sh scripts/deps.sh)"
new_workdir
mkdir -p "$B/tools"
TOOL=$B/tools/prom_sample
$CC -std=c11 -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Icommon -o "$TOOL" tests/tools/prom_sample.c \
    common/hs_prom.c common/hs_prom_process.c -lm || fail "cannot build tests/tools/prom_sample.c"

# promtool_ok FILE: promtool parses and lints FILE without a remark.
promtool_ok() {
    "$PROMTOOL" check metrics <"$1" >"$W/promtool.out" 2>&1 && [ ! -s "$W/promtool.out" ]
}

check "the tool's exposition passes promtool check metrics"
"$TOOL" >"$W/good" || fail "tests/tools/prom_sample.c refused a write"
if ! promtool_ok "$W/good"; then
    cat "$W/good" "$W/promtool.out" >&2
    fail "promtool check metrics rejected the exposition"
fi
note "$(grep -c '^# TYPE' "$W/good") families, $(grep -vc '^#' "$W/good") samples accepted"

check "the standard process_* families and the awkward label values are there"
for f in process_cpu_seconds_total process_open_fds process_max_fds process_virtual_memory_bytes \
    process_resident_memory_bytes process_start_time_seconds; do
    grep -q "^# TYPE $f " "$W/good" || fail "$f missing"
    grep -q "^$f [0-9+]" "$W/good" || fail "$f has no sample"
done
# shellcheck disable=SC2016 # literal backslashes, not expansions
{
    grep -qF 'file="say \"hi\".c"' "$W/good" || fail "escaped quotes missing"
    grep -qF 'function="C:\\path\\to\\x",file="two\nlines"' "$W/good" || fail "escaped backslash/newline missing"
    grep -qF 'function="ünïcödé ✓ 日本",file="\\\"\n"' "$W/good" || fail "UTF-8 label value missing"
}

check "promtool rejects a broken label escape and other malformed text"
# shellcheck disable=SC2016 # literal backslashes, not expansions
sed 's/say \\"hi\\"\.c/say "hi".c/' "$W/good" >"$W/unescaped_quote"
sed 's/C:\\\\path/C:\\path/' "$W/good" >"$W/bad_escape"
awk '{ gsub(/two\\nlines/, "two\nlines"); print }' "$W/good" >"$W/raw_newline"
{
    cat "$W/good"
    printf '# TYPE process_open_fds gauge\nprocess_open_fds 1\n'
} >"$W/split_family"
for m in unescaped_quote bad_escape raw_newline split_family; do
    ! cmp -s "$W/good" "$W/$m" || fail "the $m copy is the good text: the edit did not apply"
    if "$PROMTOOL" check metrics <"$W/$m" >"$W/$m.out" 2>&1; then
        fail "promtool accepted the $m copy"
    fi
    note "$m: $(head -n 1 "$W/$m.out")"
done
echo "$T: all checks passed"
