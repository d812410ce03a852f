/* conns_write.c — what is written to a server connection (see conns.h): cpd's own replies,
 * written as soon as they are made, and the pages evhttp writes by itself, turned into the
 * contract's JSON before they leave. */
#include <stdio.h>
#include <string.h>

#include "../xalloc.h"
#include "conns_internal.h"

/* ---- evhttp's own error pages, as the contract's JSON ---- */

static const char *error_code(int status, const char **msg)
{
    switch (status) {
    case 413:
        *msg = "the request is too large: its head (request line and headers) is over 64 KiB, "
               "or its body over the limit (limits.max_body_bytes)";
        return "payload_too_large";
    case 417:
        *msg = "the only supported expectation is Expect: 100-continue";
        return "expectation_failed";
    case 501:
        *msg = "the HTTP method is not implemented";
        return "not_implemented";
    default:
        *msg = "the request is not valid HTTP/1.1 (its request line, a header or the chunked "
               "body could not be parsed) or its head is over 64 KiB";
        return "bad_request";
    }
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 413:
        return "Payload Too Large";
    case 417:
        return "Expectation Failed";
    case 501:
        return "Not Implemented";
    default:
        return "Bad Request";
    }
}

/* Replace the page evhttp wrote (the last lib_bytes of the output, not sent yet: writing needs
 * another turn of the loop) with JSON. Interim 1xx replies (100 Continue) pass unchanged. */
static void on_rewrite(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct conn *k = arg;
    struct evbuffer *out = bufferevent_get_output(k->bev);
    size_t len = evbuffer_get_length(out), lib = k->lib_bytes;
    k->lib_bytes = 0;
    k->rewrite_queued = 0;
    if (lib == 0 || lib > len) return; /* some of it went out already: leave it */
    size_t start = len - lib;
    int minor = 1, status = 0;
    for (;;) { /* skip interim replies to the final one */
        char head[32] = "";
        struct evbuffer_ptr pos;
        if (evbuffer_ptr_set(out, &pos, start, EVBUFFER_PTR_SET) < 0) return;
        ev_ssize_t n = evbuffer_copyout_from(out, &pos, head, sizeof head - 1);
        int major = 0;
        if (n <= 0 || sscanf(head, "HTTP/%d.%d %d", &major, &minor, &status) != 3) return;
        if (status >= 200 || status < 100) break;
        struct evbuffer_ptr end = evbuffer_search(out, "\r\n\r\n", 4, &pos);
        if (end.pos < 0) return;
        start = (size_t)end.pos + 4;
        if (start >= len) return;
    }
    if (status < 400 || status > 599) status = 400; /* e.g. an unknown method: code 0 */
    const char *msg, *code = error_code(status, &msg);
    char body[512];
    int bn = snprintf(body, sizeof body, "{\"error\":\"%s\",\"code\":\"%s\"}", msg, code);
    struct evbuffer *keep = xevbuffer_new(), *reply = xevbuffer_new();
    if (!keep || !reply || bn < 0 || (size_t)bn >= sizeof body) goto out;
    evbuffer_add_printf(reply,
                        "HTTP/1.%d %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                        minor == 0 ? 0 : 1, status, reason_phrase(status), bn, body);
    k->rewriting = 1;
    evbuffer_remove_buffer(out, keep, start); /* what was queued before the page */
    evbuffer_drain(out, evbuffer_get_length(out));
    evbuffer_add_buffer(out, keep);
    evbuffer_add_buffer(out, reply);
    k->rewriting = 0;
out:
    if (keep) evbuffer_free(keep);
    if (reply) evbuffer_free(reply);
}

/* Anything written outside conns_reply_begin/end is evhttp's own page (or a 100 Continue):
 * this callback is disabled while cpd writes its reply (an evbuffer add runs its callbacks). */
void conns_on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct conn *k = arg;
    if (!info->n_added || k->rewriting) return;
    if (!k->rewrite) k->rewrite = xevent_new(k->owner->core->base, -1, 0, on_rewrite, k);
    k->lib_bytes += info->n_added;
    if (!k->rewrite_queued) {
        k->rewrite_queued = 1;
        /* Runs later in this turn of the loop, before the socket can be written. */
        event_active(k->rewrite, EV_TIMEOUT, 0);
    }
}

void conns_reply_begin(struct http_conns *c, struct evhttp_connection *evcon)
{
    struct conn *k = conns_lookup(c, evcon);
    if (k && k->out_cb)
        evbuffer_cb_clear_flags(bufferevent_get_output(k->bev), k->out_cb, EVBUFFER_CB_ENABLED);
}

void conns_reply_end(struct http_conns *c, struct evhttp_connection *evcon)
{
    struct conn *k = conns_lookup(c, evcon);
    if (k && k->out_cb)
        evbuffer_cb_set_flags(bufferevent_get_output(k->bev), k->out_cb, EVBUFFER_CB_ENABLED);
}

/* Write a whole reply now instead of on the socket's next writability: the bufferevent's write
 * event, added and deleted again within this turn of the loop, then costs no epoll_ctl (the
 * change list cancels the pair), and the reply leaves one epoll_wait sooner. Once the output is
 * empty, the bufferevent's write callback runs as its own write would run it (evhttp finishes
 * the request and reads the next). A partial write, EAGAIN or an error leave the rest to the
 * write event, as before; so does a page of evhttp's own waiting for on_rewrite. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct conn *k = arg;
    k->flush_queued = 0;
    if (k->rewrite_queued || k->lib_bytes) return;
    struct evbuffer *out = bufferevent_get_output(k->bev);
    if (evbuffer_get_length(out) == 0 || !(bufferevent_get_enabled(k->bev) & EV_WRITE)) return;
    if (evbuffer_write(out, k->fd) <= 0 || evbuffer_get_length(out) > 0) return;
    bufferevent_trigger(k->bev, EV_WRITE, 0);
}

void conns_reply_flush(struct http_conns *c, struct evhttp_connection *evcon)
{
    struct conn *k = conns_lookup(c, evcon);
    if (!k || k->flush_queued || k->fd < 0) return;
    if (!k->flush) k->flush = xevent_new(c->core->base, -1, 0, on_flush, k);
    k->flush_queued = 1;
    /* From the loop, after the caller's own work: never inside the reply call. */
    event_active(k->flush, EV_TIMEOUT, 0);
}
