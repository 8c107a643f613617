/* objects.h - facts about the loaded objects that more than one module
 * reads from dl_iterate_phdr (see objects.c). */
#ifndef HS_OBJECTS_H
#define HS_OBJECTS_H

#include <link.h>
#include <stdint.h>

/* Copies the object's GNU build-id (from its PT_NOTE segments, in memory)
 * to out (HS_BUILD_ID_MAX bytes); returns its length, 0 when it has none.
 * Never allocates. */
int hs_objects_build_id(const struct dl_phdr_info *info, uint8_t *out);

#endif
