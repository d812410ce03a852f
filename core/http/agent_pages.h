/* agent_pages.h — replies that list agents a store page at a time (agent_pages.c): GET /agents
 * and GET /health's agent maps. */
#ifndef CORE_HTTP_AGENT_PAGES_H
#define CORE_HTTP_AGENT_PAGES_H

#include "http.h"

struct agent_pages {
    /* Which agents: the filter's capabilities, status, health_mask and after (the client's
     * cursor) are copied; its limit is ignored (the store is read in pages of its own). */
    struct cp_agent_filter filter;
    int usable_only; /* only the agents that could take work now (ops_agent_list) */
    uint32_t limit;  /* the reply lists at most this many, and says where the next page starts;
                        0: every match */
    /* One agent into the body; first: no agent before it. */
    void (*item)(struct evbuffer *b, const struct cp_agent_view *a, int first, void *arg);
    /* The end of the body: count listed, next = the id to pass as `after` for the next page,
     * or NULL when the list is complete. */
    void (*tail)(struct evbuffer *b, size_t count, const char *next, void *arg);
    void *arg; /* for item and tail; borrowed until the reply is sent */
};

/* Reply 200 with `head` (taken), then the agents, then the tail: one plain reply when it all
 * fits in 256 KB, else a streamed one (stream.c) rendered as the client reads. A store error
 * before anything was sent is the error reply; after, the reply is cut off. Uses r->ctx until
 * it ends r. */
void agent_pages_reply(struct req *r, struct evbuffer *head, const struct agent_pages *spec);

#endif
