// leak_cpp_map.cc - leak corpus, C++: a response cache that is only ever
// inserted into. cache_response() puts a std::string key and a 1 KiB
// std::vector<char> body into a std::map that nothing erases (all through
// operator new): ~264 entries and ~300 KiB a second. render_page() churns
// temporary strings and vectors beside it. Usage: leak_cpp_map [SECONDS]
// (default 20). Prints the bytes leaked (requested from operator new) and
// the leak rate.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>
#include <time.h>

namespace {

const size_t body_size = 1024;
const unsigned entries_per_second = 264;
const unsigned pages_per_second = 2000;

// Allocated with new and never deleted, so no destructor at exit empties it
// (the usual idiom that avoids the static destruction order problem).
typedef std::map<std::string, std::vector<char>> cache_t;
cache_t &response_cache = *new cache_t;
void *volatile sink;

double now()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// Pacing, not synchronisation: the workload advances in 5 ms steps.
void pause_step()
{
    timespec step = {0, 5 * 1000 * 1000};
    nanosleep(&step, nullptr);
}

} // namespace

// Returns the bytes it leaked: the key's buffer, the body and the map node
// (libstdc++'s node: the 32-byte red-black header plus the pair).
__attribute__((noinline)) size_t cache_response(unsigned n)
{
    char key[96];
    int len = snprintf(key, sizeof key, "https://api.example.com/v1/items/%08u?fields=all", n);
    response_cache.emplace(key, std::vector<char>(body_size, char(n))); /* LEAK: leak_cpp_map */
    return size_t(len) + 1 + body_size + 32 + sizeof(cache_t::value_type);
}

__attribute__((noinline)) size_t render_page(unsigned n)
{
    std::string title = "Item number " + std::to_string(n) + " of the catalogue, rendered";
    std::vector<char> html(512 + n % 3072, 'x');
    sink = html.data();
    return title.size() + html.size();
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 20.0;
    double start = now(), elapsed = 0;
    uint64_t leaked = 0, entries = 0, pages = 0;
    while ((elapsed = now() - start) < seconds) {
        for (; entries < uint64_t(elapsed * entries_per_second); entries++)
            leaked += cache_response(unsigned(entries));
        for (; pages < uint64_t(elapsed * pages_per_second); pages++)
            render_page(unsigned(pages));
        pause_step();
    }
    std::printf("leak_cpp_map: cache_response kept %zu entries in a map never erased; "
                "leaked_bytes=%llu seconds=%.2f leak_rate=%.0f\n",
                response_cache.size(), (unsigned long long)leaked, elapsed,
                double(leaked) / elapsed);
    return 0;
}
