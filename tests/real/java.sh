#!/bin/sh
# java.sh - a small Java program (tests/real/src/RealJava.java: a thread
# pool, ConcurrentHashMap, sorted lists, 8 more threads, a TreeMap) runs
# unchanged under `heapscope record`: exit 0 and the line it must print.
# Compiled with javac when the JDK is there, else run as a single source
# file (`java RealJava.java`, JDK 11+; Debian's JRE ships jdk.compiler, so
# default-jre-headless is enough). JAVA_MODE=javac|source picks one. The
# report is printed and checked like the others (no verdict expected). Run
# from the repository root.
T=java
# shellcheck disable=SC1091 # sourced from the repository root
. tests/real/lib.sh
need_cmd java
new_workdir
ROUNDS=${REAL_JAVA_ROUNDS:-5}
mkdir -p "$W/dumps" "$W/classes"
mode=${JAVA_MODE:-auto}
if [ "$mode" = auto ]; then
    if command -v javac >/dev/null 2>&1; then mode=javac; else mode=source; fi
fi
java -version 2>&1 | head -n 1 | sed "s/^/$T:   /"

case $mode in
javac)
    check "javac, then java -cp under heapscope record ($ROUNDS rounds)"
    timeout 120 javac -d "$W/classes" "$SRC/RealJava.java" || fail "javac failed"
    set -- java -Xmx256m -cp "$W/classes" RealJava "$ROUNDS"
    ;;
source)
    check "java RealJava.java (single-file source launch) under heapscope record ($ROUNDS rounds)"
    cp "$SRC/RealJava.java" "$W/RealJava.java"
    set -- java -Xmx256m "$W/RealJava.java" "$ROUNDS"
    ;;
*) fail "JAVA_MODE=$mode: want javac or source" ;;
esac
st=0
timeout 180 "$CLI" record --interval 0.2 --rate 32K -o "$W/dumps/java.%p.hsd" -- "$@" >"$W/out" 2>"$W/err" || st=$?
cat "$W/out" "$W/err"
[ "$st" = 0 ] || fail "java exited with status $st"
want="entries=200000 total=200000 sum=19999900000 threads=8 first=k0 last=k99999 rounds=$ROUNDS"
[ "$(cat "$W/out")" = "$want" ] || fail "java printed '$(cat "$W/out")', want '$want'"
if grep -v '^heapscope: recording ' "$W/err" | grep -q .; then
    fail "unexpected stderr: $(grep -v '^heapscope: recording ' "$W/err" | head -n 3)"
fi
set -- "$W"/dumps/java.*.hsd
if [ $# != 1 ] || [ ! -f "$1" ]; then fail "want one dump, found: $*"; fi
info_ok "$1"
report java any -- "$1"

finish
