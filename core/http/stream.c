/* stream.c — replies written in chunks with back-pressure (http.h, http_stream_*): the next
 * chunk is asked for only when the previous one has drained to the socket, so a body that grows
 * with the fleet (GET /agents, GET /health?agents=all) never sits whole in cpd's memory and no
 * turn of the loop renders more than one chunk. A client that reads slowly only slows its own
 * reply; one that stops reading for limits.idle_timeout_seconds is cut off by evhttp.
 *
 * HTTP/1.1 gets Transfer-Encoding: chunked (evhttp_send_reply_start/_chunk/_end); HTTP/1.0 gets
 * the body as it comes and the connection is closed after it, which is how HTTP/1.0 ends a body
 * of unknown length.
 *
 * Ownership of r: between a write and its drain the stream owns it (the client leaving frees it
 * at once); while `more` works (waiting for the store, say) the caller does, and the client
 * leaving only marks it gone: the caller's next write, end or abort frees it. */
#include <stdlib.h>

#include <event2/http.h>
#include <event2/http_struct.h> /* the request's HTTP version (evhttp 2.1 has no getter) */

#include <cp/time.h>

#include "../log.h"
#include "../metrics.h"
#include "conns.h"
#include "http.h"

struct http_stream {
    void (*more)(struct req *r);
    void (*release)(struct req *r);
    int status;
    int waiting;        /* a chunk is on its way out; `more` runs when it drained */
    struct event *kick; /* runs `more` from the loop (a chunk evhttp did not take) */
};

static void stream_free(struct req *r)
{
    struct http_stream *s = r->stream;
    int status = s->status; /* sent with the head, whatever became of the body */
    double secs = (double)(cp_monotonic_us() - r->started_us) / 1e6;
    metrics_http_request(r->route ? r->route->pattern : "unmatched", status, secs);
    if (s->release) s->release(r);
    if (s->kick) event_free(s->kick);
    free(s);
    r->stream = NULL;
    http_req_free(r);
}

/* The connection closed (the client left, or evhttp gave up on it). evhttp detached the request
 * from it: the request is ours to free. */
static void on_stream_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct req *r = arg;
    r->gone = 1;
    r->ev_detached = 1;
    if (!r->stream->waiting) return; /* the caller holds r: its next call frees it */
    evhttp_request_free(r->ev);
    stream_free(r);
}

static void on_chunk_drained(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct req *r = arg;
    r->stream->waiting = 0;
    r->stream->more(r);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    on_chunk_drained(NULL, arg);
}

/* Hand a chunk to evhttp; `more` runs once it drained. */
static void send_chunk(struct req *r, struct evbuffer *chunk)
{
    struct http_stream *s = r->stream;
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    s->waiting = 1;
    if (evbuffer_get_length(chunk) == 0) { /* evhttp would take it without calling back */
        if (!s->kick) s->kick = xevent_new(r->core->base, -1, 0, on_kick, r);
        event_active(s->kick, EV_TIMEOUT, 0);
    } else {
        conns_reply_begin(http_conns_of(r), evcon);
        evhttp_send_reply_chunk_with_cb(r->ev, chunk, on_chunk_drained, r);
        conns_reply_end(http_conns_of(r), evcon);
    }
    evbuffer_free(chunk);
}

void http_stream_begin(struct req *r, int status, struct evbuffer *body,
                       void (*more)(struct req *r), void (*release)(struct req *r))
{
    struct http_stream *s = xcalloc(1, sizeof *s);
    s->more = more;
    s->release = release;
    s->status = status;
    r->stream = s;
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(out, "Content-Type", "application/json");
    evhttp_add_header(out, "Date", http_date_header());
    if (r->ev->major < 1 || (r->ev->major == 1 && r->ev->minor < 1)) {
        /* No chunks in HTTP/1.0: the close ends the body. A keep-alive the client asked for is
         * declined (evhttp would answer it with a Content-Length of what it holds so far). */
        evhttp_remove_header(evhttp_request_get_input_headers(r->ev), "Connection");
        evhttp_add_header(out, "Connection", "close");
    }
    conns_set_closecb(http_conns_of(r), evcon, on_stream_close, r);
    conns_reply_begin(http_conns_of(r), evcon);
    evhttp_send_reply_start(r->ev, status, NULL);
    conns_reply_end(http_conns_of(r), evcon);
    send_chunk(r, body);
}

int http_stream_write(struct req *r, struct evbuffer *chunk)
{
    if (r->gone) {
        evbuffer_free(chunk);
        evhttp_request_free(r->ev);
        stream_free(r);
        return -1;
    }
    send_chunk(r, chunk);
    return 0;
}

void http_stream_end(struct req *r, struct evbuffer *last)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    if (!r->gone) {
        conns_set_closecb(http_conns_of(r), evcon, NULL, NULL);
        conns_reply_begin(http_conns_of(r), evcon);
        if (evbuffer_get_length(last)) evhttp_send_reply_chunk(r->ev, last);
        evhttp_send_reply_end(r->ev); /* evhttp frees the request once it is written */
        conns_reply_end(http_conns_of(r), evcon);
    } else {
        evhttp_request_free(r->ev);
    }
    evbuffer_free(last);
    stream_free(r);
}

void http_stream_abort(struct req *r, const char *why)
{
    log_warn("%s: reply cut off after the status was sent: %s",
             r->route ? r->route->pattern : "request", why);
    if (r->gone) {
        evhttp_request_free(r->ev);
        stream_free(r);
        return;
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    conns_set_closecb(http_conns_of(r), evcon, NULL, NULL);
    stream_free(r);
    evhttp_connection_free(evcon); /* and the request with it */
}
