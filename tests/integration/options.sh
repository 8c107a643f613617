#!/bin/sh
# options.sh - README.md's settings table says what common/hs_options.c's
# table says: the same variables in the same order, each with its record flag
# and default, and a meaning for each. Builds tests/tools/options_table.c,
# which prints the table's rows, and compares them with the rows of README's
# "### Settings" table; a difference fails with a diff (README on the left).
# Run from the repository root; $BUILD defaults to build.
T=options
# shellcheck disable=SC1091 # sourced from the repository root
. tests/lib.sh

CC=${CC:-cc}
new_workdir
mkdir -p "$B/tools"
TOOL=$B/tools/options_table
$CC -std=c11 -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Icommon -o "$TOOL" tests/tools/options_table.c \
    common/hs_options.c || fail "cannot build tests/tools/options_table.c"

check "every option in common/hs_options.c has a doc"
"$TOOL" >"$W/table" || fail "options without a doc"
[ "$(wc -l <"$W/table")" -ge 1 ] || fail "the table printed nothing"

# readme_rows MARKDOWN OUT: the rows of the first table after "### Settings"
# (up to the next heading), cells trimmed, the first three tab-separated into
# OUT. Fails when a row has no meaning (fourth cell) or there is no table.
readme_rows() {
    awk -F'|' -v out="$2" '
        /^### Settings/ { on = 1; next }
        on && /^#/ { exit }
        on && /^\|/ {
            if ($2 ~ /^[ -]*$/ || $2 ~ /variable/) next   # header and rule
            for (i = 2; i <= 5; i++) { gsub(/^ +| +$/, "", $i) }
            if ($5 == "") { print "no meaning for " $2 > "/dev/stderr"; bad = 1 }
            print $2 "\t" $3 "\t" $4 > out
        }
        END { exit bad }' "$1" && [ -s "$2" ]
}

check "README.md's settings table: the same variables, flags and defaults, each with a meaning"
readme_rows README.md "$W/readme" || fail "README.md: no settings table under '### Settings', or a row without a meaning"
if ! diff "$W/readme" "$W/table" >"$W/diff"; then
    cat "$W/diff" >&2
    fail "README.md's settings table differs from common/hs_options.c (< README, > table)"
fi
note "$(wc -l <"$W/table") settings agree"

check "a README with a changed default, a row less, a row more or a row without meaning fails"
# shellcheck disable=SC2016 # the backquotes are Markdown's
{
    sed 's/^| `HEAPSCOPE_SAMPLE_RATE` | `--rate` | `524288` |/| `HEAPSCOPE_SAMPLE_RATE` | `--rate` | `65536` |/' \
        README.md >"$W/changed.md"
    sed '/^| `HEAPSCOPE_SEED` |/d' README.md >"$W/short.md"
    sed 's/^| `HEAPSCOPE_VERBOSE` |/| `HEAPSCOPE_EXTRA` | | `1` | more |\n&/' README.md >"$W/long.md"
    sed 's/^\(| `HEAPSCOPE_DISABLE` | | `0` |\).*/\1 |/' README.md >"$W/nodoc.md"
}
for m in changed short long; do
    ! cmp -s README.md "$W/$m.md" || fail "the $m copy is README.md itself: the edit did not apply"
    readme_rows "$W/$m.md" "$W/$m.rows" || fail "$m: rows not read"
    ! cmp -s "$W/$m.rows" "$W/table" || fail "$m: the difference went unnoticed"
done
! cmp -s README.md "$W/nodoc.md" || fail "the nodoc copy is README.md itself: the edit did not apply"
! readme_rows "$W/nodoc.md" "$W/nodoc.rows" 2>/dev/null || fail "a row without a meaning went unnoticed"
echo "$T: all checks passed"
