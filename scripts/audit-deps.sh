#!/bin/sh
# Audits the library's module graph: no module may call back into a module
# that calls it, directly or around a loop. The graph comes from the built
# objects themselves (build/lib/**/*.o): module A depends on module B when
# one of A's undefined symbols (a function it calls, a variable it reads) is
# defined by B (objdump -t). Fails on any cycle, printing it, and on any
# module outside interposer/preload/ that depends on one inside it (the unit
# tests link every interposer module but those; see the Makefile). Usage:
# audit-deps.sh [-v] [BUILD_DIR [lib|cli]] (default build lib), from the
# source tree; -v also prints every dependency with one symbol that makes it.
# With cli it audits the heapscope CLI's objects (analyzer/ and common/) for
# cycles the same way.
#
# The layering, top to bottom (docs/interposer.md, "Modules"); a module calls
# only modules below it, or beside it without a loop:
#   preload/     hooks (malloc & co.), process (constructor, destructor,
#                pthread_create, dlclose), unwind_guard (read, pipe2)
#   record       the sampled slow path (it reads lifecycle's state word)
#   lifecycle    the state machine; sets up everything below
#   schedule     when a snapshot is written
#   snapshot     what one snapshot holds
#   livecheck    the live leak check
#   threads      per-thread state, thread events and sites
#   encode (record bytes), writer (the file), tables, capture, heapstats,
#   real (the allocator below), identity
#   altstack, arena, clock, fd, log, loss, config, sampler, elfsym, common/
set -eu
verbose=0
if [ "${1:-}" = -v ]; then verbose=1; shift; fi
build=${1:-build}
part=${2:-lib}
case $part in lib | cli) ;; *) echo "audit-deps: the part is lib or cli, not '$part'" >&2; exit 2 ;; esac
dir="$build/$part"
[ -d "$dir" ] || { echo "audit-deps: $dir missing (build the library first)" >&2; exit 1; }
# Only the objects of sources that still exist: a build directory keeps the
# objects of removed or renamed files, which are not in the library.
objs=""
for o in $(find "$dir" -name '*.o' | sort); do
    m=${o#"$dir"/}
    [ -f "${m%.o}.c" ] && objs="$objs $o"
done
[ -n "$objs" ] || { echo "audit-deps: no objects under $dir (run it from the source tree)" >&2; exit 1; }

# One line per symbol: "D module symbol" (a module's API: global and hidden)
# or "U module symbol" (undefined). The exported symbols (default visibility:
# malloc, read, dlclose ...) are the libc functions we stand in front of, not
# a module's API: a module that calls read() calls libc's, so they make no
# edge.
symbols() {
    for o in $objs; do
        m=${o#"$dir"/}
        m=${m%.o}
        # The library's modules talk through hidden symbols; the CLI has no
        # exports to tell apart, so every global definition counts there.
        objdump -t "$o" | awk -v m="$m" -v part="$part" '
            / \*UND\*/ { print "U", m, $NF; next }
            $2 == "g" && (part == "cli" || / \.hidden /) { print "D", m, $NF }'
    done
}

symbols | awk -v verbose="$verbose" '
$1 == "D" { def[$3] = $2; mods[$2] = 1; next }
$1 == "U" { use[++nuse] = $2 " " $3; mods[$2] = 1; next }
END {
    for (i = 1; i <= nuse; i++) {
        split(use[i], u, " ")
        from = u[1]; to = def[u[2]]
        if (to == "" || to == from) continue
        key = from SUBSEP to
        if (!(key in edge)) {
            edge[key] = u[2]
            out[from] = out[from] " " to
            nedges++
        }
    }
    status = 0
    for (key in edge) {
        split(key, k, SUBSEP)
        if (verbose) print "  " k[1] " -> " k[2] " (" edge[key] ")"
        if (k[1] !~ /^interposer\/preload\// && k[2] ~ /^interposer\/preload\//) {
            print "audit-deps: " k[1] " calls into " k[2] " (" edge[key] "): only preload/ may" \
                " (the unit tests link " k[1] " without preload/)" > "/dev/stderr"
            status = 1
        }
    }
    for (m in mods) color[m] = 0
    for (m in mods)
        if (color[m] == 0 && visit(m, 0)) status = 1
    nmods = 0
    for (m in mods) nmods++
    if (status == 0)
        print "audit-deps: " nmods " modules, " nedges " dependencies, no cycle"
    exit status
}
# Depth-first search; a grey node reached again closes a cycle: print it.
function visit(m, depth,    n, i, next_mods, found) {
    color[m] = 1
    path[depth] = m
    n = split(out[m], next_mods, " ")
    found = 0
    for (i = 1; i <= n; i++) {
        if (color[next_mods[i]] == 1) {
            print_cycle(next_mods[i], depth)
            found = 1
        } else if (color[next_mods[i]] == 0 && visit(next_mods[i], depth + 1)) {
            found = 1
        }
    }
    color[m] = 2
    return found
}
function print_cycle(start, depth,    i, s, from, to) {
    for (i = 0; i <= depth && path[i] != start; i++) ;
    s = ""
    for (from = i; from <= depth; from++) {
        s = s path[from] " -> "
    }
    s = s start
    print "audit-deps: cycle: " s > "/dev/stderr"
    for (from = i; from <= depth; from++) {
        to = (from < depth) ? path[from + 1] : start
        print "    " path[from] " -> " to " (" edge[path[from] SUBSEP to] ")" > "/dev/stderr"
    }
}'
