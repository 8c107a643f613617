#!/bin/sh
# sqlite.sh - Debian's sqlite3 shell under `heapscope record` builds a
# 200,000-row table in a database file (a recursive CTE), indexes it and
# answers queries whose results are computed beforehand (count, sum, a GROUP
# BY, DISTINCT, a lookup), scans what is left 80 times with its 16 MiB page
# cache full, then `PRAGMA integrity_check`; the report: no leak. The steady
# scans matter: the run's exit snapshot (sqlite3 frees its cache at exit) is
# not judged, and a run that ends while its cache is still filling cannot be
# told from a leak; a cache that fills and then holds still is not one.
# Run from the repository root.
T=sqlite
# shellcheck disable=SC1091 # sourced from the repository root
. tests/real/lib.sh
need_cmd sqlite3
new_workdir
ROWS=200000
mkdir -p "$W/dumps"

# x = 3i, g = i % 7, s = 'row-' || i zero-padded || 32 hex digits.
cat >"$W/build.sql" <<EOF
PRAGMA journal_mode = WAL;
PRAGMA cache_size = -16000;
CREATE TABLE t(id INTEGER PRIMARY KEY, x INTEGER NOT NULL, g INTEGER NOT NULL, s TEXT NOT NULL);
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $ROWS)
INSERT INTO t(id, x, g, s) SELECT i, i * 3, i % 7, printf('row-%07d-%s', i, hex(randomblob(16))) FROM c;
COMMIT;
CREATE INDEX t_g ON t(g, x);
SELECT 'count', count(*), sum(x) FROM t;
SELECT 'group', g, count(*), sum(x), min(id), max(id) FROM t GROUP BY g ORDER BY g;
SELECT 'distinct', count(DISTINCT s), count(DISTINCT substr(s, 1, 12)) FROM t;
SELECT 'lookup', substr(s, 1, 12), length(s) FROM t WHERE id = 123456;
SELECT 'indexed', count(*), sum(x) FROM t WHERE g = 3 AND x BETWEEN 3000 AND 300000;
DELETE FROM t WHERE id % 2 = 0;
SELECT 'after-delete', count(*), sum(x) FROM t;
SELECT 'steady', count(*), sum(length(printf('%s-%d', s, k))) FROM t, (WITH RECURSIVE r(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM r WHERE k < 80) SELECT k FROM r);
PRAGMA integrity_check;
EOF
# The same answers, computed by awk.
awk -v n="$ROWS" 'BEGIN {
    for (i = 1; i <= n; i++) {
        g = i % 7; c[g]++; s[g] += 3 * i; if (!(g in lo)) lo[g] = i; hi[g] = i; sum += 3 * i
        if (g == 3 && 3 * i >= 3000 && 3 * i <= 300000) { ic++; is += 3 * i }
        if (i % 2) { ac++; as += 3 * i }
    }
    printf "count|%d|%.0f\n", n, sum
    for (g = 0; g < 7; g++) printf "group|%d|%d|%.0f|%d|%d\n", g, c[g], s[g], lo[g], hi[g]
    printf "distinct|%d|%d\n", n, n
    printf "lookup|row-0123456-|44\n"
    printf "indexed|%d|%.0f\n", ic, is
    printf "after-delete|%d|%.0f\n", ac, as
    for (k = 1; k <= 80; k++) sl += ac * (45 + length(k ""))
    printf "steady|%d|%d\n", ac * 80, sl
    print "ok"
}' >"$W/expected"

check "sqlite3: $ROWS rows built, indexed and queried under heapscope record; answers as computed"
st=0
timeout 120 "$CLI" record --interval 0.1 --rate 16K -o "$W/dumps/sqlite3.%p.hsd" -- \
    sqlite3 -batch "$W/t.db" <"$W/build.sql" >"$W/out" 2>"$W/err" || st=$?
cat "$W/err"
[ "$st" = 0 ] || fail "sqlite3 exited with status $st"
# journal_mode prints "wal"
[ "$(head -n 1 "$W/out")" = wal ] || fail "PRAGMA journal_mode said $(head -n 1 "$W/out")"
sed 1d "$W/out" >"$W/answers"
if ! cmp -s "$W/expected" "$W/answers"; then
    diff "$W/expected" "$W/answers" | head -n 20
    fail "sqlite3's answers differ from the expected ones"
fi
note "answers: $(tr '\n' ' ' <"$W/answers" | cut -c 1-200)..."
set -- "$W"/dumps/sqlite3.*.hsd
if [ $# != 1 ] || [ ! -f "$1" ]; then fail "want one dump, found: $*"; fi
info_ok "$1"
report sqlite3 noleak -- "$1"

finish
