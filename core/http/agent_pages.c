/* agent_pages.c — a reply that lists agents (GET /agents, GET /health's agent maps), read from
 * the store a page at a time and rendered as it goes (agent_pages.h).
 *
 * The store is asked for STORE_PAGE agents per call; what they render collects in a buffer.
 * A body complete before it reaches PLAIN_MAX is one plain reply with its Content-Length and the
 * connection kept alive (small fleets and client-sized pages see exactly what they always did);
 * it is rendered CHUNK_BYTES per turn of the loop (`resume`), so even that never holds the loop
 * for long when many such requests arrive at once. A longer one becomes a streamed reply
 * (stream.c: chunked, the connection closed after it), in pieces of about CHUNK_BYTES, and the
 * next store page is read only once the previous piece has gone to the socket
 * (http_stream_write_then). So a 100,000-agent list never sits whole in memory, a turn of the
 * loop renders at most one piece per reply, and other connections are served in between; a
 * client that reads slowly only slows its own reply.
 *
 * Ownership. Until the head goes out the pager lives in r->ctx and the req is ours as for any
 * reply. Once streaming, the connection's close (the client leaving, a failed write, the end)
 * runs on_closed, which frees the pager — unless a store call is in flight: then the pager is
 * orphaned (p->r = NULL) and freed by that call's callback (store calls cannot be cancelled).
 *
 * The memory store answers inside the call: pump() asks again in a loop while the buffer has
 * room instead of recursing from the callback. */
#include "agent_pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "../xalloc.h"

#define STORE_PAGE 256          /* agents per store call */
#define CHUNK_BYTES (64 * 1024) /* rendered bytes per streamed piece */
#define PLAIN_MAX (256 * 1024)  /* a body complete within this is one plain reply */

struct pager {
    struct req *r;                /* NULL: the client left while the store was asked */
    struct agent_pages spec;      /* its filter's strings point into the copies below */
    const char **caps;            /* owned copy of spec.filter.capabilities */
    char *cursor;                 /* the store's place: where its next page starts (owned) */
    char *next;                   /* the reply's own next (owned) */
    struct evbuffer *out;         /* rendered, not yet sent */
    size_t count;                 /* agents listed so far */
    int streaming;                /* the head went out: the rest are pieces */
    int in_store, sync, finished; /* a store call in flight; inside it; 1 done, -1 failed */
    struct event *resume;         /* the next turn of the loop renders on (before streaming) */
    size_t turn_start;            /* p->out's length when this turn's piece began */
    struct ops_call call;
    struct cp_result error; /* a store error met inside the call, answered after it */
    char error_message[256];
};

static void pager_free(struct pager *p)
{
    for (uint32_t i = 0; p->caps && i < p->spec.filter.n_capabilities; i++)
        free((char *)p->caps[i]);
    free(p->caps);
    free(p->cursor);
    free(p->next);
    if (p->out) evbuffer_free(p->out);
    if (p->resume) event_free(p->resume);
    free(p);
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? xstrdup(s) : NULL;
}

/* The streamed reply's connection closed: r is about to be freed. */
static void on_closed(struct req *r)
{
    struct pager *p = r->ctx;
    r->ctx = NULL;
    if (!p) return;
    if (p->in_store)
        p->r = NULL; /* on_page frees it */
    else
        pager_free(p);
}

static void pump(struct pager *p);

static void on_drained(struct req *r)
{
    struct pager *p = r->ctx;
    p->turn_start = 0; /* a new piece in an empty p->out */
    pump(p);
}

/* The list is complete (p->finished) or a piece is full: send what is rendered. */
static void flush(struct pager *p)
{
    struct req *r = p->r;
    struct evbuffer *b = p->out;
    p->out = NULL;
    if (p->finished) {
        p->spec.tail(b, p->count, p->next, p->spec.arg);
        if (!p->streaming) {
            r->ctx = NULL;
            pager_free(p);
            http_reply_buffer(r, 200, b);
            return;
        }
        http_stream_write(r, b);
        evbuffer_free(b);
        http_stream_end(r); /* on_closed frees p, now or once written */
        return;
    }
    p->out = xevbuffer_new();
    if (!p->streaming) {
        if (http_stream_start(r, 200, "application/json", on_closed) < 0) {
            r->ctx = NULL; /* the client is gone: the reply only frees r */
            pager_free(p);
            http_reply_buffer(r, 200, b);
            return;
        }
        p->streaming = 1;
    }
    http_stream_write_then(r, b, on_drained); /* -1: closing; on_closed frees p */
    evbuffer_free(b);
}

/* The store failed: an error reply, or a cut one once the head went out. Frees p. */
static void fail(struct pager *p, const struct cp_result *res)
{
    struct req *r = p->r;
    if (!p->streaming) {
        struct cp_result e = *res;
        char message[sizeof p->error_message];
        snprintf(message, sizeof message, "%s", res->message ? res->message : "");
        e.message = res->message ? message : NULL;
        r->ctx = NULL;
        pager_free(p);
        http_reply_storage_error(r, &e, "agents");
        return;
    }
    http_stream_abort(r); /* on_closed frees p */
}

static void on_page(void *cookie, const struct cp_result *res)
{
    struct pager *p = cookie;
    p->in_store = 0;
    if (!p->r) { /* the streamed reply's client left meanwhile */
        pager_free(p);
        return;
    }
    if (res->rc < 0) {
        p->finished = -1;
        if (!p->sync) {
            fail(p, res);
            return;
        }
        p->error = *res; /* the caller (pump) is still inside the store call */
        snprintf(p->error_message, sizeof p->error_message, "%s", res->message ? res->message : "");
        p->error.message = p->error_message;
        return;
    }
    size_t i = 0;
    for (; i < res->n_agents; i++) {
        const struct cp_agent_view *a = res->agents[i];
        if (p->spec.limit && p->count == p->spec.limit) break;
        p->spec.item(p->out, a, p->count == 0, p->spec.arg);
        p->count++;
        set_str(&p->next, a->agent_id);
    }
    /* A page of the reply ends at its limit; it has a next when the store had more. */
    int more = i < res->n_agents || res->next;
    if (p->spec.limit && p->count == p->spec.limit) {
        if (!more) set_str(&p->next, NULL);
        p->finished = 1;
    } else if (!res->next) {
        set_str(&p->next, NULL);
        p->finished = 1;
    } else {
        set_str(&p->cursor, res->next);
    }
    if (!p->sync) pump(p);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct pager *p = arg;
    p->turn_start = evbuffer_get_length(p->out);
    pump(p);
}

/* Read pages while this turn's piece has room (the memory store answers inside the call), then
 * send it — or, before the reply is known to be long, go on at the next turn of the loop. */
static void pump(struct pager *p)
{
    while (!p->finished && evbuffer_get_length(p->out) - p->turn_start < CHUNK_BYTES) {
        struct cp_agent_filter f = p->spec.filter;
        f.after = p->cursor;
        f.limit = STORE_PAGE;
        if (p->spec.limit && !p->spec.usable_only && p->spec.limit - p->count < STORE_PAGE)
            f.limit = (uint32_t)(p->spec.limit - p->count);
        p->in_store = p->sync = 1;
        ops_agent_list(p->r->core, &p->call, &f, p->spec.usable_only, on_page, p);
        p->sync = 0;
        if (p->in_store) return; /* on_page continues */
        if (p->finished < 0) {
            fail(p, &p->error);
            return;
        }
    }
    if (!p->finished && !p->streaming && evbuffer_get_length(p->out) < PLAIN_MAX) {
        if (!p->resume) p->resume = xevtimer_new(p->r->core->base, on_resume, p);
        event_active(p->resume, EV_TIMEOUT, 0);
        return;
    }
    flush(p);
}

void agent_pages_reply(struct req *r, struct evbuffer *head, const struct agent_pages *spec)
{
    struct pager *p = xcalloc(1, sizeof *p);
    p->r = r;
    p->spec = *spec;
    p->out = head;
    uint32_t n = spec->filter.n_capabilities;
    if (n) {
        p->caps = xcalloc(n, sizeof *p->caps);
        for (uint32_t i = 0; i < n; i++)
            p->caps[i] = xstrdup(spec->filter.capabilities[i]);
    }
    p->spec.filter.capabilities = p->caps;
    p->spec.filter.after = NULL;
    set_str(&p->cursor, spec->filter.after);
    r->ctx = p;
    pump(p);
}
