/* demangle.h - the qualified name of a simple Itanium C++ symbol, without
 * libstdc++ (the library does not link it): enough to match C++
 * allocation wrappers by the names pprof and the report show. */
#ifndef HS_DEMANGLE_H
#define HS_DEMANGLE_H

#include <stddef.h>

/* Writes the qualified name of mangled without its parameters, as pprof's
 * simplified names have it: "_ZN2os6mallocEm8MEMFLAGSRK15NativeCallStack"
 * gives "os::malloc", "_Znwm" "operator new", "_ZN12_GLOBAL__N_14Pool5allocEm"
 * "(anonymous namespace)::Pool::alloc", "_ZN4PoolD2Ev" "Pool::~Pool". A GCC
 * clone suffix (".constprop.0") is kept after the name. Returns 0, or -1
 * (out untouched) when mangled is not a C++ symbol or has what this does
 * not read: template arguments, local names, numbered substitutions, most
 * operators. Never allocates. */
int hs_demangle_simple(const char *mangled, char *out, size_t len);

#endif
