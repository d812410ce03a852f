/* evfast.h — cheaper versions of libevent (and one glibc) functions that evhttp calls several times
 * for every request, found before libevent's own by the dynamic linker (evfast.c says how and why).
 */
#ifndef CORE_EVFAST_H
#define CORE_EVFAST_H

#include <stdint.h>

/* How often each fast path ran in the calling thread (tests: proof that evhttp's calls reach
 * them). */
struct evfast_counts {
    uint64_t header_lines; /* "%s: %s\r\n" */
    uint64_t status_lines; /* "HTTP/%d.%d %d %s\r\n" */
    uint64_t strcasecmps;
    uint64_t sizes;    /* evutil_snprintf's "%zu" */
    uint64_t versions; /* sscanf's "HTTP/%d.%d%c" */
};

void evfast_counts(struct evfast_counts *out);

/* 1 when the dynamic linker hands this file's evbuffer_add_printf to everyone who asks for it
 * by name (libevent's own calls go through that lookup); 0 when libevent's is used (a static
 * libevent, or one linked with -Bsymbolic): nothing is wrong then, only slower. */
int evfast_active(void);

#endif
