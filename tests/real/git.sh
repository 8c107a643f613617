#!/bin/sh
# git.sh - Debian's git, every command under `heapscope record`: init a
# repository in the work dir, make 200 commits (a growing file, 50 files
# rewritten in turn), `git gc --aggressive`, `git fsck --full --strict`
# (must pass); the history, the packed objects and a file's content at an
# old commit are checked. The dumps of fsck and of gc (with the git
# processes each runs) are reported on: no leak, and since Debian's git has
# no .symtab, its wrappers (xmalloc, xcalloc, ...) are named by their
# call-frame ranges: the main process must detect at least one and blame
# no detected wrapper (report_check.py --strict-unnamed). Run from the
# repository root.
T=git
# shellcheck disable=SC1091 # sourced from the repository root
. tests/real/lib.sh
need_cmd git
new_workdir
COMMITS=${REAL_GIT_COMMITS:-200}
mkdir -p "$W/repo" "$W/dumps/commits" "$W/dumps/gc" "$W/dumps/fsck"
# A git that reads no configuration of this machine's user or system.
HOME=$W
GIT_CONFIG_NOSYSTEM=1
GIT_AUTHOR_NAME=heapscope
GIT_AUTHOR_EMAIL=heapscope@example.invalid
GIT_COMMITTER_NAME=heapscope
GIT_COMMITTER_EMAIL=heapscope@example.invalid
export HOME GIT_CONFIG_NOSYSTEM GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
cd "$W/repo"

# g PHASE ARGS...: git ARGS under heapscope record, its dump (and those of
# the git processes it runs) in dumps/PHASE; the record line goes to the log.
g() {
    phase=$1
    shift
    timeout 120 "$CLI" record --interval 0.5 --rate 16K -o "$W/dumps/$phase/git.%p.hsd" -- git "$@" 2>>"$W/record.log"
}

check "git init and $COMMITS commits, each git add and git commit under heapscope record"
g commits init -q -b main . || fail "git init"
i=1
while [ $i -le "$COMMITS" ]; do
    echo "line $i" >>log.txt
    seq "$i" $((i + 300)) >"f$((i % 50)).txt"
    g commits add -A || fail "git add (commit $i)"
    g commits commit -q -m "commit $i" || fail "git commit $i"
    i=$((i + 1))
done
[ "$(git rev-list --count HEAD)" = "$COMMITS" ] || fail "rev-list counts $(git rev-list --count HEAD) commits"
[ "$(git log -1 --format=%s)" = "commit $COMMITS" ] || fail "HEAD is '$(git log -1 --format=%s)'"
[ "$(git show HEAD~100:log.txt | wc -l)" = $((COMMITS - 100)) ] || fail "log.txt at HEAD~100 has the wrong length"
[ "$(git show HEAD~100:f0.txt | head -n 1)" = $((COMMITS - 100)) ] || fail "f0.txt at HEAD~100: $(git show HEAD~100:f0.txt | head -n 1)"
note "$(find "$W/dumps/commits" -type f | wc -l) dumps from the commits"

check "git gc --aggressive, then git fsck --full --strict passes"
g gc gc -q --aggressive || fail "git gc"
g fsck fsck --full --strict >"$W/fsck.out" 2>&1 || {
    cat "$W/fsck.out"
    fail "git fsck failed"
}
cat "$W/fsck.out"
git count-objects -v >"$W/objects"
[ "$(sed -n 's/^count: //p' "$W/objects")" = 0 ] || fail "loose objects left after gc: $(tr '\n' ' ' <"$W/objects")"
[ "$(sed -n 's/^packs: //p' "$W/objects")" = 1 ] || fail "want 1 pack: $(tr '\n' ' ' <"$W/objects")"
note "$(tr '\n' ' ' <"$W/objects")"
[ "$(git rev-list --count HEAD)" = "$COMMITS" ] || fail "rev-list after gc counts $(git rev-list --count HEAD)"
git diff --quiet HEAD || fail "the work tree differs from HEAD after gc"
cd "$W"

# Every dump is intact; report on gc's and fsck's.
for d in "$W"/dumps/*/*; do
    info_ok "$d"
done
note "$(find "$W/dumps" -type f | wc -l) dumps, every one intact"
set -- "$W"/dumps/fsck/*
[ -f "$1" ] || fail "no dump of git fsck"
report fsck noleak --strict-unnamed --min-detected 1 -- "$@"
set -- "$W"/dumps/gc/*
[ -f "$1" ] || fail "no dump of git gc"
report gc noleak --strict-unnamed --min-detected 1 -- "$@"

finish
