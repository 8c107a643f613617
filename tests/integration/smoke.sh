#!/bin/sh
# smoke.sh - real programs under libheapscope.so: python3 (threads, dict/list/
# string work, every allocation through malloc), git (init/add/commit/log/gc,
# which spawns many subprocesses) and sort --parallel=2 must print
# byte-identical stdout and stderr and exit with the same status as without
# the library, at the default sample rate and at a small one (slow path), and
# every traced process must leave a dump that `heapscope info` calls intact.
set -eu

BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$(pwd)/$BUILD ;; esac
LIB=$B/libheapscope.so
CLI=$B/heapscope
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
check() { echo "smoke: check: $*"; }

[ -f "$LIB" ] || fail "$LIB not built"
[ -x "$CLI" ] || fail "$CLI not built"
for tool in "$PY" git sort sha256sum awk; do
    command -v "$tool" >/dev/null || fail "$tool not installed (scripts/deps.sh)"
done

# Only the settings each run names.
for v in $(env | sed -n 's/^\(HEAPSCOPE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

W=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
trap 'exit 1' HUP INT TERM

# run NAME CMD...: runs CMD in $W/run/NAME (fresh), keeping stdout, stderr and
# status in $W/NAME.{out,err,rc}.
run() {
    name=$1; shift
    rm -rf "$W/run/$name"; mkdir -p "$W/run/$name"
    if (cd "$W/run/$name" && "$@") >"$W/$name.out" 2>"$W/$name.err"; then
        echo 0 >"$W/$name.rc"
    else
        echo $? >"$W/$name.rc"
    fi
}

# traced NAME RATE CMD...: run under the library, dumps into $W/dumps/NAME.
traced() {
    name=$1; rate=$2; shift 2
    mkdir -p "$W/dumps/$name"
    run "$name" env LD_PRELOAD="$LIB" HEAPSCOPE_INTERVAL=0.2 HEAPSCOPE_SAMPLE_RATE="$rate" \
        HEAPSCOPE_OUTPUT="$W/dumps/$name/%e.%p.hsd" "$@"
}

# same BASE NAME: the traced run NAME behaved exactly like the plain run BASE.
same() {
    [ "$(cat "$W/$1.rc")" = "$(cat "$W/$2.rc")" ] ||
        fail "$2: exit status $(cat "$W/$2.rc"), without heapscope $(cat "$W/$1.rc")"
    if ! cmp -s "$W/$1.out" "$W/$2.out"; then
        diff "$W/$1.out" "$W/$2.out" | head -n 6 >&2
        fail "$2: stdout differs from the run without heapscope"
    fi
    if ! cmp -s "$W/$1.err" "$W/$2.err"; then
        diff "$W/$1.err" "$W/$2.err" | head -n 6 >&2
        fail "$2: stderr differs from the run without heapscope"
    fi
}

# dumps NAME MIN RATE: at least MIN dumps, each one intact by `heapscope info`
# and recorded at sample rate RATE.
dumps() {
    n=0
    for f in "$W/dumps/$1"/*; do
        [ -e "$f" ] || continue
        n=$((n + 1))
        if ! "$CLI" info "$f" >"$W/info.out" 2>&1; then
            tail -n 3 "$W/info.out" >&2
            fail "$1: heapscope info $(basename "$f") exited non-zero"
        fi
        grep -q '^integrity: ok' "$W/info.out" ||
            fail "$1: $(basename "$f"): $(grep '^integrity' "$W/info.out" || echo 'no integrity line')"
        grep -Eiq "^sample[ _]rate:? *$3( |\$)" "$W/info.out" ||
            fail "$1: $(basename "$f"): not at rate $3: $(grep -i -m 1 'rate' "$W/info.out" || echo 'no rate line')"
    done
    [ "$n" -ge "$2" ] || fail "$1: expected at least $2 dumps, found $n"
    echo "smoke:   $n dump(s), all integrity ok"
}

# --- python3: four threads, dict/list/str work, digest of the results -------
cat >"$W/work.py" <<'EOF'
import hashlib, json, threading
def work(tid, out):
    d = {}
    for i in range(20000):
        k = "k%d_%d" % (tid, i)
        d[k] = [i, str(i * i), k[::-1] * (i % 7)]
    rows = sorted(d.items(), key=lambda kv: kv[1][1])
    s = "".join(v[1] for _, v in rows[:5000])
    words = sorted((s * 3).split("9"))
    blob = json.dumps({"w": words[:2000], "n": len(words)})
    big = bytearray(3 * 1024 * 1024)        # above the mmap threshold
    big[tid::4096] = b"x" * len(big[tid::4096])
    del d
    out[tid] = hashlib.sha256(("|".join(words) + blob).encode() + bytes(big)).hexdigest()
out = [None] * 4
threads = [threading.Thread(target=work, args=(t, out)) for t in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("\n".join(out))
print("all", hashlib.sha256("".join(out).encode()).hexdigest())
EOF
check "python3 with 4 threads: same digest and status with and without heapscope"
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
run py.base "$PY" -c "$(cat "$W/work.py")"
[ "$(cat "$W/py.base.rc")" = 0 ] || fail "python3 fails even without heapscope"
[ "$(wc -l <"$W/py.base.out")" = 5 ] || fail "python3 baseline printed no digest"
traced py.default 524288 "$PY" -c "$(cat "$W/work.py")"
same py.base py.default
traced py.small 4096 "$PY" -c "$(cat "$W/work.py")"
same py.base py.small
traced py.rate1 1 "$PY" -c "$(cat "$W/work.py")"
same py.base py.rate1
dumps py.default 1 524288
dumps py.small 1 4096
dumps py.rate1 1 1

# --- git: init, add, commit with fixed identity and dates, log, gc ----------
cat >"$W/git-work.sh" <<'EOF'
set -eu
export HOME="$PWD" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C
export GIT_AUTHOR_NAME=Heap GIT_AUTHOR_EMAIL=heap@example.org
export GIT_COMMITTER_NAME=Scope GIT_COMMITTER_EMAIL=scope@example.org
git init -q -b main repo
cd repo
git config gc.autoDetach false
git config maintenance.auto false
for c in 1 2 3 4; do
    awk -v c="$c" 'BEGIN { for (i = 0; i < 150; i++) { f = sprintf("f%03d.txt", i)
        for (j = 0; j < c * 15 + i % 10; j++) print "commit", c, "file", i, "line", j > f
        close(f) } }'
    export GIT_AUTHOR_DATE="2021-0$c-01T12:00:00Z" GIT_COMMITTER_DATE="2021-0$c-02T12:00:00Z"
    git add -A
    git commit -q -m "commit $c"
done
git log --format=%H
git gc -q --prune=now
git count-objects -v | grep -E '^(count|packs):'
git fsck --full --no-progress
git rev-parse 'HEAD^{tree}'
git diff --stat HEAD~3 HEAD | tail -n 1
git archive --format=tar HEAD | sha256sum
EOF
check "git init/add/commit/log/gc: same commit hashes and status with and without heapscope"
run git.base sh "$W/git-work.sh"
[ "$(cat "$W/git.base.rc")" = 0 ] || fail "git script fails even without heapscope: $(head -n 1 "$W/git.base.err")"
[ "$(grep -cE '^[0-9a-f]{40}$' "$W/git.base.out")" = 5 ] || fail "git baseline printed no hashes"
traced git.default 524288 sh "$W/git-work.sh"
same git.base git.default
traced git.rate1 1 sh "$W/git-work.sh"
same git.base git.rate1
# sh, awk and git itself, which runs gc's pack-objects, repack, etc.
dumps git.default 8 524288
dumps git.rate1 8 1

# --- sort --parallel=2 on 200k lines, in memory and with temporary files ---
check "sort --parallel=2 on 200k lines: same sha256 and status with and without heapscope"
awk 'BEGIN { x = 12345; for (i = 0; i < 200000; i++) {
        x = (x * 1103515245 + 12345) % 2147483648
        printf "%08x %d line-%d\n", x, x % 1000, i } }' >"$W/lines.txt"
for variant in mem tmpfiles; do
    if [ $variant = mem ]; then opts="--parallel=2"; else opts="--parallel=2 -S 1M"; fi
    for mode in base default small; do
        # shellcheck disable=SC2086 # $opts is a list of options
        case $mode in
        base) run "sort.$variant.base" env LC_ALL=C sort $opts -T . -k2,2n -k1,1 "$W/lines.txt" ;;
        default) traced "sort.$variant.default" 524288 env LC_ALL=C sort $opts -T . -k2,2n -k1,1 "$W/lines.txt" ;;
        small) traced "sort.$variant.small" 4096 env LC_ALL=C sort $opts -T . -k2,2n -k1,1 "$W/lines.txt" ;;
        esac
        sha256sum <"$W/sort.$variant.$mode.out" >"$W/sort.$variant.$mode.sha"
    done
    [ "$(cat "$W/sort.$variant.base.rc")" = 0 ] || fail "sort fails even without heapscope"
    [ "$(wc -l <"$W/sort.$variant.base.out")" = 200000 ] || fail "sort baseline lost lines"
    for mode in default small; do
        cmp -s "$W/sort.$variant.base.sha" "$W/sort.$variant.$mode.sha" ||
            fail "sort ($variant, $mode rate): sha256 $(cut -c1-16 "$W/sort.$variant.$mode.sha") != $(cut -c1-16 "$W/sort.$variant.base.sha")"
        same "sort.$variant.base" "sort.$variant.$mode"
        if [ $mode = default ]; then rate=524288; else rate=4096; fi
        dumps "sort.$variant.$mode" 1 $rate
    done
done

echo "smoke: PASS"
