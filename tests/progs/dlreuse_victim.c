/* dlreuse_victim.c - loads plugin A, lets it allocate (blocks kept), unloads
 * it, loads plugin B (same size and layout, so usually at A's address) and
 * lets it allocate too. The dump must blame A's function for A's blocks,
 * although B sits at the same addresses by the time the program exits.
 * Usage: dlreuse_victim PLUGIN_DIR. Prints "same address" or "moved". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

void *volatile held[64];

static void *load(const char *dir, const char *name, void *(**make)(size_t), void **base)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return NULL;
    }
    *make = (void *(*)(size_t))dlsym(h, "plug_make");
    Dl_info info;
    if (!*make || !dladdr((void *)*make, &info))
        return NULL;
    *base = info.dli_fbase;
    return h;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    void *(*make)(size_t);
    void *base_a, *base_b;
    void *a = load(argv[1], "libhs_plug_a.so", &make, &base_a);
    if (!a)
        return 1;
    for (int i = 0; i < 32; i++)
        held[i] = make(4096);
    dlclose(a);
    void *b = load(argv[1], "libhs_plug_b.so", &make, &base_b);
    if (!b)
        return 1;
    for (int i = 32; i < 64; i++)
        held[i] = make(4096);
    puts(base_a == base_b ? "same address" : "moved");
    return 0;
}
