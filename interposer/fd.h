/* fd.h - where the interposer keeps the descriptors it opens (see fd.c). */
#ifndef HS_FD_H
#define HS_FD_H

/* Our descriptors live at this number or above. */
#define HS_FD_HIGH 512

/* Moves a descriptor just opened to a number >= HS_FD_HIGH (close-on-exec),
 * where the host's "close all, then open" and dup2-onto-3 habits do not
 * reach; returns the new number, or f itself when there is no room up there
 * (and f when f < 0, so that hs_fd_to_high(open(...)) keeps open's -1). */
int hs_fd_to_high(int f);

#endif
