#!/bin/sh
# Installs the Debian packages that the build, the tests and the demo need,
# only when one is missing (so `make check` stays fast on a ready machine).
set -e
PKGS="gcc g++ make pkg-config libunwind-dev uthash-dev check zlib1g-dev binutils
      python3 git coreutils valgrind redis-server redis-tools libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0 procps
      libdw-dev libelf-dev libc6-dbg golang-go protobuf-compiler librsvg2-bin clang clang-format libclang-rt-14-dev prometheus
      libpython3.11-testsuite nginx curl"
# `deps.sh real`: what `make check-real` (tests/real/) needs instead. Debian's
# JRE ships the jdk.compiler module, so `java Source.java` runs without a JDK.
[ "${1:-}" = real ] && PKGS="redis-server redis-tools nginx wrk curl sqlite3 python3 default-jre-headless nodejs git
      iproute2 procps gzip"
# `deps.sh bench`: the profilers `make bench` compares heapscope with (tests/bench/compare.sh),
# valgrind for its instruction counts and GNU time for the process tree's peak RSS.
[ "${1:-}" = bench ] && PKGS="heaptrack libgoogle-perftools4 libjemalloc2 python3 valgrind time zstd"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "heapscope: missing Debian packages:$missing (run as root or install them)" >&2
    exit 1
fi
echo "heapscope: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
