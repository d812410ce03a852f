/* storage_compat_int.h — what the wrapper's two files share (storage_compat.c: the tables and
 * the wrapped operations; storage_compat_results.c: reading what the plugin returns). Core
 * only; storage_compat.h is the loader's interface. */
#ifndef CORE_STORAGE_COMPAT_INT_H
#define CORE_STORAGE_COMPAT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cp/storage.h>

#include "storage_compat.h"

struct compat {
    struct cp_storage_ops table;      /* what the core calls (p->ops) */
    const struct cp_storage_ops *ops; /* the plugin's own */
    void *st;                         /* the plugin's own state */
    uint32_t minor;                   /* its abi_minor */
    const char *name;                 /* its descriptor's name, for messages */
    int warned;                       /* a malformed result was logged */
    /* feed() (2.4): the host's callback, reached through on_change below */
    void (*on_change)(void *arg, const struct cp_change *change);
    void *on_change_arg;
};

/* One operation in flight through the wrapper. */
struct call {
    struct compat *c;
    cp_storage_cb cb;
    void *cookie;
};

/* A page asked of a backend older than 2.4, which ignores after, limit and health_mask: it
 * answers every match (sorted by agent_id), and the page is cut from that here. */
struct page_call {
    struct call k;
    char *after; /* owned */
    uint32_t limit, health_mask;
};

/* The plugin's answer to a wrapped call (cookie: its struct call, freed): handed to the core
 * read as far as each struct's `size` says (storage_compat_results.c). */
void compat_on_result(void *cookie, const struct cp_result *res);
/* The same for agent_list of a backend older than 2.4 (cookie: a struct page_call): the page
 * cut from its whole answer. */
void compat_on_listed_page(void *cookie, const struct cp_result *res);
/* dst (host size) = the first src_size bytes of src, the rest zero, size = the host's. */
void compat_copy_sized(void *dst, size_t dst_size, const void *src, size_t src_size);

#endif
