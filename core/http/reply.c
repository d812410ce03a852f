/* reply.c — a request's life after dispatch (server.c): held requests and the peer's hang-up,
 * replies and the contract's error bodies, the reply's bookkeeping (metrics, the connection's
 * callbacks, freeing the request). Handlers, the event stream and the static files reply
 * through here; nothing here routes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include <cp/time.h>

#include "../log.h"
#include "../metrics.h"
#include "../xalloc.h"
#include "conns.h"
#include "http.h"
#include "server_state.h"
#include "utf8.h"

static struct http_conns *conns_of(const struct req *r)
{
    return r->core->http ? r->core->http->conns : NULL;
}

struct http_conns *http_req_conns(const struct req *r)
{
    return conns_of(r);
}

struct sse_hub *http_sse_hub(const struct req *r)
{
    return r->core->http ? r->core->http->sse : NULL;
}

void http_req_free(struct req *r)
{
    free(r->params[0]);
    free(r->params[1]);
    evhttp_clear_headers(&r->query);
    if (r->body) json_object_put(r->body);
    free(r);
}

static void unwatch(struct req *r)
{
    if (r->watch) event_free(r->watch);
    r->watch = NULL;
}

/* evhttp found the connection closed while it waited for our reply: it has detached the request
 * from the connection (we own it now) and is freeing the connection. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct req *r = arg;
    unwatch(r);
    r->gone = 1;
    r->ev_detached = 1;
    if (r->held && r->on_gone) {
        r->held = 0;
        r->on_gone(r);
    }
}

/* evhttp does not read from a connection while a request on it waits for its reply, so a held
 * client that hangs up would go unnoticed until the answer is written. We watch the socket for
 * the peer's close (EV_CLOSED, or readable + recv() == 0) and then drop the request and the
 * connection ourselves. */
static void on_peer_closed(evutil_socket_t fd, short what, void *arg)
{
    struct req *r = arg;
    char c;
    if (!r->held) { /* an answer is being prepared: evhttp notices a failed write itself */
        unwatch(r);
        return;
    }
    if (!(what & EV_CLOSED)) {
        ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
            return; /* a pipelined request: not a close; keep watching */
        }
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    unwatch(r);
    if (evcon) conns_set_closecb(conns_of(r), evcon, NULL, NULL);
    r->gone = 1;
    r->held = 0;
    if (r->on_gone) r->on_gone(r);            /* ends (frees) r, never touching r->ev */
    if (evcon) evhttp_connection_free(evcon); /* frees the request with it */
}

void http_unhold(struct req *r)
{
    unwatch(r);
    r->held = 0;
}

void http_hold(struct req *r, void (*on_gone)(struct req *r))
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    r->held = 1;
    r->on_gone = on_gone;
    if (!evcon) return;
    conns_set_closecb(conns_of(r), evcon, on_conn_close, r);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0) return;
    struct event_base *base = r->core->base;
    short ev = (event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE) ? EV_CLOSED : EV_READ;
    r->watch = xevent_new(base, fd, ev | EV_PERSIST, on_peer_closed, r);
    event_add(r->watch, NULL);
}

static void on_reply_complete(struct evhttp_request *ev, void *arg)
{
    (void)ev;
    struct req *r = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    if (evcon) conns_set_closecb(conns_of(r), evcon, NULL, NULL);
    if (r->on_written) r->on_written(r, 1);
    http_req_free(r);
}

/* When the reply was handed to a connection that then failed before the write completed,
 * evhttp frees the request without completing: the close callback reports it. */
static void on_reply_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct req *r = arg;
    if (r->on_written) r->on_written(r, 0);
    http_req_free(r);
}

/* The Date header, formatted once a second: evhttp would format it for every reply. */
const char *http_date_header(void)
{
    static time_t cached = -1;
    static char text[40];
    time_t now = time(NULL);
    if (now != cached) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached = now;
    }
    return text;
}

void http_reply_buffer(struct req *r, int status, struct evbuffer *body)
{
    http_reply_typed(r, status, "application/json", body);
}

void http_reply_typed(struct req *r, int status, const char *content_type, struct evbuffer *body)
{
    double secs = (double)(cp_monotonic_us() - r->started_us) / 1e6;
    metrics_http_request(r->route ? r->route->pattern : "unmatched", status, secs);
    unwatch(r);
    if (r->gone) {
        /* The client left. A request evhttp detached is ours to free; otherwise the caller
         * (on_peer_closed) frees the connection and the request with it. */
        if (r->on_written) r->on_written(r, 0);
        if (r->ev_detached) evhttp_request_free(r->ev);
        if (body) evbuffer_free(body);
        http_req_free(r);
        return;
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(out, "Content-Type", content_type);
    evhttp_add_header(out, "Date", http_date_header());
    if (r->on_written) {
        evhttp_request_set_on_complete_cb(r->ev, on_reply_complete, r);
        conns_set_closecb(conns_of(r), evcon, on_reply_conn_close, r);
        conns_reply_begin(conns_of(r), evcon);
        evhttp_send_reply(r->ev, status, NULL, body);
        conns_reply_end(conns_of(r), evcon);
        conns_reply_flush(conns_of(r), evcon);
        if (body) evbuffer_free(body);
        return; /* freed by on_reply_complete or on_reply_conn_close */
    }
    if (evcon) conns_set_closecb(conns_of(r), evcon, NULL, NULL); /* set if it was ever held */
    conns_reply_begin(conns_of(r), evcon);
    evhttp_send_reply(r->ev, status, NULL, body);
    conns_reply_end(conns_of(r), evcon);
    conns_reply_flush(conns_of(r), evcon);
    if (body) evbuffer_free(body);
    http_req_free(r);
}

void http_reply_json(struct req *r, int status, json_object *obj)
{
    struct evbuffer *b = xevbuffer_new();
    evbuffer_add_printf(b, "%s",
                        json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(obj);
    http_reply_buffer(r, status, b);
}

void http_reply_error(struct req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_sanitize(msg); /* echoed request bytes, or a multi-byte character cut at the end */
    json_object *o = xjson_object();
    json_object_object_add(o, "error", xjson_string(msg));
    json_object_object_add(o, "code", xjson_string(code));
    http_reply_json(r, status, o);
}

void http_reply_storage_error(struct req *r, const struct cp_result *res, const char *what)
{
    const char *msg = res->message ? res->message : "";
    switch (res->rc) {
    case CP_ERR_NOT_FOUND:
        if (*msg)
            http_reply_error(r, 404, "not_found", "%s", msg);
        else
            http_reply_error(r, 404, "not_found", "%s not found", what);
        return;
    case CP_ERR_CONFLICT:
        if (res->task && !*msg)
            http_reply_error(r, 409, "conflict", "%s is %s", what,
                             cp_task_status_name(res->task->status));
        else
            http_reply_error(r, 409, "conflict", "%s: %s", what, *msg ? msg : "conflict");
        return;
    case CP_ERR_INVALID:
        http_reply_error(r, 400, "invalid_field", "%s", *msg ? msg : "invalid request");
        return;
    case OPS_ERR_UNSUPPORTED:
        http_reply_error(r, 501, "not_supported", "%s", *msg ? msg : "not supported");
        return;
    case CP_ERR_UNAVAILABLE: {
        /* "applied": false — certain, nothing changed (never sent, or the store said it did not
         * run); "unknown" — sent and the reply lost, or not confirmed by replicas: it may have
         * taken effect (docs/api.md "Errors"). */
        int outcome = ops_outcome(r->core, res);
        const char *msg =
            outcome == CP_OUTCOME_UNCONFIRMED
                ? "the write was not confirmed by the storage backend's replicas in time; it may "
                  "or may not have been applied; retry later"
            : outcome == CP_OUTCOME_UNKNOWN
                ? "the storage backend's reply was lost; the operation may or may not have been "
                  "applied; retry later"
                : "the storage backend cannot be reached; nothing was applied; retry later";
        json_object *o = xjson_object();
        json_object_object_add(o, "error", xjson_string(msg));
        json_object_object_add(o, "code", xjson_string("storage_unavailable"));
        json_object_object_add(o, "applied",
                               outcome == CP_OUTCOME_NOT_APPLIED ? xjson_bool(0)
                                                                 : xjson_string("unknown"));
        http_reply_json(r, 503, o);
        return;
    }
    default:
        log_error("storage error %d on %s: %s", res->rc, what, msg);
        http_reply_error(r, 500, "internal", "internal error");
    }
}

const char *http_query(struct req *r, const char *key)
{
    return evhttp_find_header(&r->query, key);
}
