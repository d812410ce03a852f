/* stream.c — streamed replies (http.h, http_stream_*): the head now, the body in pieces as it
 * comes (chunked on HTTP/1.1), for as long as the client stays. The event stream
 * (GET /events) is one.
 *
 * Timeouts. Between pieces nothing is read from the connection (reading stays off, so neither
 * limits.header_timeout_seconds nor the idle timeout's read side can end a stream that is
 * quiet); a close by the client is noticed by watching the socket for its hang-up. Writing keeps
 * its timeout: a client that reads nothing for limits.idle_timeout_seconds while bytes wait
 * is dropped by evhttp.
 *
 * Back-pressure. http_stream_queued() says how much is written but not yet taken by the
 * client; the caller decides what to do about it (the event stream cuts a slow client off at
 * its limit). Nothing here buffers beyond what the caller queues. A caller that produces the body
 * itself (a long list of agents) uses http_stream_write_then() instead: it renders the next
 * piece only once the previous one has gone to the socket, so a slow reader only slows its own
 * reply and never makes cpd hold more than a piece for it.
 *
 * Ownership. The req lives until the connection closes, whatever closes it (the client, a
 * failed write, the end of the reply, shutdown); on_closed runs then, exactly once, and the req
 * is freed after it. The evhttp request is evhttp's to free, except when evhttp detached it from
 * a failed connection (then it is freed here). */
#include <errno.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>

#include <cp/time.h>

#include "../metrics.h"
#include "conns.h"
#include "http.h"

struct stream {
    void (*on_closed)(struct req *r);
    void (*on_drained)(struct req *r); /* http_stream_write_then's, for the piece in flight */
    struct event *watch;               /* the client's hang-up */
    int completed;                     /* evhttp wrote the end and freed its request */
    int ended;
    int in_end; /* inside evhttp_send_reply_end, which may close the connection */
    int closed; /* ... and did: finish() once it returns */
};

static struct stream *stream_of(struct req *r)
{
    return r->stream;
}

static void stream_unwatch(struct stream *s)
{
    if (s->watch) event_free(s->watch);
    s->watch = NULL;
}

static void finish(struct req *r)
{
    struct stream *s = stream_of(r);
    if (s->on_closed) s->on_closed(r);
    free(s);
    r->stream = NULL;
    http_req_free(r);
}

/* The connection is going: the last thing that happens to a stream. */
static void on_stream_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct req *r = arg;
    struct stream *s = stream_of(r);
    stream_unwatch(s);
    /* evhttp detached its request (a failed write): ours to free now */
    if (!s->completed && evhttp_request_get_connection(r->ev) == NULL) evhttp_request_free(r->ev);
    if (s->in_end)
        s->closed = 1;
    else
        finish(r);
}

static void on_stream_complete(struct evhttp_request *ev, void *arg)
{
    (void)ev;
    struct req *r = arg;
    if (r->stream) r->stream->completed = 1; /* evhttp frees ev right after this */
}

/* The client hung up (or sent something; a stream reads nothing, so that is as good as gone:
 * only a pipelined request would do it, and it would never be answered). */
static void on_hangup(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct req *r = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    stream_unwatch(stream_of(r));
    if (evcon) evhttp_connection_free(evcon); /* runs on_stream_conn_close */
}

/* evhttp turns reading back on with every piece written (to notice a close): a stream reads
 * nothing, so that neither a read timeout nor a client's bytes can end it. */
static void reading_off(struct req *r)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (bev) bufferevent_disable(bev, EV_READ);
}

int http_stream_start(struct req *r, int status, const char *content_type,
                      void (*on_closed)(struct req *r))
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0) return -1;
    double secs = (double)(cp_monotonic_us() - r->started_us) / 1e6;
    metrics_http_request(r->route ? r->route->pattern : "unmatched", status, secs);
    struct stream *s = xcalloc(1, sizeof *s);
    s->on_closed = on_closed;
    r->stream = s;
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(out, "Content-Type", content_type);
    evhttp_add_header(out, "Date", http_date_header());
    evhttp_add_header(out, "Connection", "close"); /* the connection ends with the stream */
    /* An HTTP/1.0 client's keep-alive is declined: evhttp would answer it with a
     * Content-Length of what it holds so far (nothing), where the close must end the body. */
    evhttp_remove_header(evhttp_request_get_input_headers(r->ev), "Connection");
    evhttp_request_set_on_complete_cb(r->ev, on_stream_complete, r);
    conns_set_closecb(http_req_conns(r), evcon, on_stream_conn_close, r);
    conns_reply_begin(http_req_conns(r), evcon);
    evhttp_send_reply_start(r->ev, status, NULL);
    conns_reply_end(http_req_conns(r), evcon);
    reading_off(r);
    struct event_base *base = r->core->base;
    short ev = (event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE) ? EV_CLOSED : EV_READ;
    s->watch = xevent_new(base, fd, ev | EV_PERSIST, on_hangup, r);
    event_add(s->watch, NULL);
    return 0;
}

static void on_piece_drained(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct req *r = arg;
    struct stream *s = stream_of(r);
    void (*drained)(struct req * r) = s ? s->on_drained : NULL;
    if (!s || s->ended) return;
    s->on_drained = NULL;
    if (drained) drained(r);
}

int http_stream_write_then(struct req *r, struct evbuffer *buf, void (*on_drained)(struct req *r))
{
    struct stream *s = stream_of(r);
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    if (!s || s->ended || !evcon || evbuffer_get_length(buf) == 0) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        return -1;
    }
    s->on_drained = on_drained;
    conns_reply_begin(http_req_conns(r), evcon);
    evhttp_send_reply_chunk_with_cb(r->ev, buf, on_piece_drained, r);
    conns_reply_end(http_req_conns(r), evcon);
    reading_off(r);
    return 0;
}

size_t http_stream_queued(struct req *r)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

size_t http_stream_write(struct req *r, struct evbuffer *buf)
{
    struct stream *s = stream_of(r);
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    if (!s || s->ended || !evcon) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        return 0;
    }
    conns_reply_begin(http_req_conns(r), evcon);
    evhttp_send_reply_chunk(r->ev, buf);
    conns_reply_end(http_req_conns(r), evcon);
    reading_off(r);
    return http_stream_queued(r);
}

void http_stream_end(struct req *r)
{
    struct stream *s = stream_of(r);
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    if (!s || s->ended || !evcon) return;
    s->ended = 1;
    s->in_end = 1;
    conns_reply_begin(http_req_conns(r), evcon);
    /* Then Connection: close closes it (on_stream_conn_close) once written — at once when
     * nothing is left to write on an HTTP/1.0 connection: evcon is then gone. */
    evhttp_send_reply_end(r->ev);
    s->in_end = 0;
    if (s->closed) {
        finish(r);
        return;
    }
    conns_reply_end(http_req_conns(r), evcon);
    reading_off(r);
}

void http_stream_abort(struct req *r)
{
    struct stream *s = stream_of(r);
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    if (!s || !evcon) return;
    stream_unwatch(s);
    evhttp_connection_free(evcon); /* runs on_stream_conn_close: on_closed, r freed */
}

int http_stream_ended(const struct req *r)
{
    return !r->stream || r->stream->ended;
}
