/* probe_def.h — an agent's health probe as registered, taken apart: the front end that knows the
 * object's text decodes it (core/http: JSON), the health monitor checks and runs it. Plain data:
 * no JSON below core/http. */
#ifndef CORE_PROBE_DEF_H
#define CORE_PROBE_DEF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cp/probe.h>

struct probe_def {
    char *type;          /* the probe plugin's name (owned) */
    int64_t interval_ms; /* 0: the server's default */
    int64_t timeout_ms;  /* 0: the server's default */
    /* Every member of the object, "type" included, as the probe plugin sees it: strings as
     * they are, other values as their text. Keys and values owned. */
    struct cp_kv *items;
    size_t n_items;
};

/* Decode a stored probe object's text into out (zeroed first; probe_def_clear() it). 0, or -1
 * with a message naming the member in err. */
typedef int (*probe_decode_fn)(const char *text, struct probe_def *out, char *err, size_t errlen);

static inline void probe_def_clear(struct probe_def *d)
{
    for (size_t i = 0; i < d->n_items; i++) {
        free((char *)d->items[i].key);
        free((char *)d->items[i].value);
    }
    free(d->items);
    free(d->type);
    *d = (struct probe_def){0};
}

#endif
