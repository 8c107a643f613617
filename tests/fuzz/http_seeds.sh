#!/bin/sh
# http_seeds.sh DIR - the seed corpus for tests/fuzz/fuzz_http: requests the
# scrapers send (Go's pprof client, Prometheus, Parca) and a few that must be
# refused, so the fuzzer starts from every branch of the parser. Generated,
# never committed.
set -eu
out=${1:?usage: http_seeds.sh DIR}
rm -rf "$out"
mkdir -p "$out"
printf 'GET /debug/pprof/heap?gc=1&seconds=30 HTTP/1.1\r\nHost: 127.0.0.1:6060\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n' >"$out/go_heap"
printf 'GET /metrics HTTP/1.1\r\nHost: h:6060\r\nAccept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\nAuthorization: Bearer abc.def-ghi\r\nConnection: keep-alive\r\n\r\n' >"$out/prometheus"
printf 'POST /debug/pprof/symbol HTTP/1.1\r\nHost: h\r\nContent-Length: 21\r\nContent-Type: application/octet-stream\r\n\r\n0x401000+0x401020' >"$out/symbol_post"
printf 'GET /debug/pprof/goroutine?debug=2&x%%20y=a+b%%2F HTTP/1.0\nConnection: Keep-Alive\n\n' >"$out/lf_only"
printf 'HEAD / HTTP/1.1\r\nX: a\r\n b\r\n\r\n' >"$out/folded"
printf 'PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' >"$out/put_chunked"
printf 'GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n' >"$out/pipelined"
