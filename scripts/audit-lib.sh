#!/bin/sh
# Audits the built interposer: it must export exactly the interposed entry
# points, all defined in interposer/preload/ (pipe2 and read included: they
# guard libunwind's validation pipe, see preload/unwind_guard.c), and must not
# call libc functions that allocate through malloc, take stdio locks or
# otherwise are unsafe inside a malloc hook (ddprof's
# check_for_unsafe_libc_functions is the model). Usage: audit-lib.sh LIB
set -eu
lib=${1:-build/libheapscope.so}
expected="aligned_alloc calloc dlclose free malloc malloc_usable_size memalign pipe2 posix_memalign pthread_create pvalloc read realloc reallocarray valloc"
exports=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TWDBV]$/ {print $3}' | grep -v '^_init$\|^_fini$' | sort | tr '\n' ' ' | sed 's/ $//')
if [ "$exports" != "$expected" ]; then
    echo "audit: $lib exports '$exports', expected '$expected'" >&2
    exit 1
fi
# Allocating or stdio/locale functions: each would recurse into our hooks or
# deadlock on a lock the host holds when it calls malloc. (dladdr is allowed:
# only the snapshot writer calls it, to name the live leak warning's site. dlclose is
# exported so that stacks are written before the object they lie in unloads.)
forbidden="printf fprintf vfprintf puts fputs fputc putc fwrite fread fopen fdopen fclose fflush
  setenv putenv unsetenv clearenv strdup strndup asprintf vasprintf getline getdelim
  qsort dlopen dlerror popen system opendir readdir scandir realpath
  localtime gmtime ctime strftime getpwuid getpwnam backtrace backtrace_symbols"
undefined=$(nm -D --undefined-only "$lib" | awk '{print $2}' | sed 's/@.*//')
bad=""
for f in $forbidden; do
    if echo "$undefined" | grep -qx "$f"; then bad="$bad $f"; fi
done
if [ -n "$bad" ]; then
    echo "audit: $lib calls functions unsafe inside malloc hooks:$bad" >&2
    exit 1
fi
# glibc's heap statistics walk every free chunk under the arena lock (150 ms
# on a fragmented heap, the program stalled meanwhile; a deadlock when exit()
# runs in a signal handler that interrupted malloc) and say 0 over another
# allocator: heap figures come from interposer/heapstats.c instead.
heap_walkers="mallinfo mallinfo2 malloc_info malloc_stats"
bad=""
for f in $heap_walkers; do
    if echo "$undefined" | grep -qx "$f"; then bad="$bad $f"; fi
done
if [ -n "$bad" ]; then
    echo "audit: $lib calls glibc's heap-walking statistics:$bad (use heapstats.c)" >&2
    exit 1
fi
# regcomp and regexec allocate (the live frame filter, issue 10): allowed
# because only common/hs_frames.c calls them and only interposer/framefilter.c
# calls that, from the live server thread or the snapshot writer at a
# program's safe point with the re-entrancy guard set, never in a hook, a
# signal or fork handler or at exit (framefilter.c says why). Checked on the
# objects beside the library when they are there.
objdir=$(dirname "$lib")/lib
if [ -d "$objdir" ]; then
    users_of() {
        for o in $(find "$objdir" -name '*.o' | sort); do
            m=${o#"$objdir"/}
            [ -f "${m%.o}.c" ] || continue # a removed source's stale object
            if nm -u "$o" | awk '{print $2}' | grep -qx "$1"; then echo "${m%.o}"; fi
        done | tr '\n' ' ' | sed 's/ $//'
    }
    for f in regcomp regexec; do
        [ "$(users_of "$f")" = common/hs_frames ] || { echo "audit: $f is called by '$(users_of "$f")', only common/hs_frames may" >&2; exit 1; }
    done
    [ "$(users_of hs_frame_filter_new)" = interposer/framefilter ] ||
        { echo "audit: the frame filter is built by '$(users_of hs_frame_filter_new)', only interposer/framefilter may" >&2; exit 1; }
fi
echo "audit: $lib exports the $(echo "$expected" | wc -w) hooks only and calls nothing unsafe"
