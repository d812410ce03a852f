/* evalloc.h — libevent's memory from per-size free lists (see evalloc.c). */
#ifndef CP_EVALLOC_H
#define CP_EVALLOC_H

#include <stddef.h>

/* Hands libevent the functions below (event_set_mem_functions). Call first thing in main(),
 * before any libevent call: memory libevent allocated before would reach evalloc_free. Does
 * nothing in an AddressSanitizer build, where libevent keeps malloc so that a use of a freed
 * request or buffer is caught. */
void evalloc_install(void);

/* The functions themselves, for the unit test. Single-threaded, like cpd's event loop. */
void *evalloc_malloc(size_t size);
void *evalloc_realloc(void *p, size_t size);
void evalloc_free(void *p);

#endif
