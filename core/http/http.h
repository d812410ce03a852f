/* http.h — the HTTP layer's request context, router and reply helpers (evhttp + json-c).
 *
 * Lifecycle: the server allocates a struct req per incoming request, authenticates, parses the
 * body and calls the route's handler. The handler (often from a storage callback, possibly
 * later) ends it with exactly one http_reply*() call, which sends the answer and frees the req.
 * A req may be *held* (long poll): then http_hold() watches its connection, and on_gone runs
 * when the client disconnects first; after on_gone the req must still be ended with
 * http_reply*() (nothing is sent; it is only freed).
 */
#ifndef CORE_HTTP_H
#define CORE_HTTP_H

#include <stdint.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "core.h"
#include "ops.h"
#include "probe_def.h"
#include "xalloc.h"

struct req;
typedef void (*route_handler)(struct req *r);

struct route {
    int method;          /* EVHTTP_REQ_GET ... */
    const char *pattern; /* "/api/control-plane/agents/:id/heartbeat" */
    route_handler handler;
    int min_role; /* enum cfg_role, or -1 = public */
};

struct req {
    struct evhttp_request *ev;
    struct cp_core *core;
    const struct route *route;
    char *params[2]; /* the pattern's :params, percent-decoded (owned) */
    struct evkeyvalq query;
    json_object *body; /* the request's JSON object ({} when the body is empty), owned */
    int role;
    int64_t started_us; /* monotonic, for the request-duration histogram */

    /* long poll */
    int held;
    int gone;            /* the client disconnected; reply only frees */
    int ev_detached;     /* evhttp detached ev from its connection: we must free it */
    struct event *watch; /* peer-close watch on the connection's socket while held */
    void (*on_gone)(struct req *r);
    void (*on_written)(struct req *r, int written); /* after a reply: written fully or not */
    void *ctx;                                      /* the handler's own state */
    struct ops_call call;                           /* the handler's operation in flight */
    struct stream *stream;                          /* a streamed reply (stream.c), or NULL */
};

/* Create the evhttp server bound to cfg->listen. NULL with err on failure. */
struct http_server *http_server_new(struct cp_core *core, char *err, size_t errlen);
/* The same on a listener the caller made (a UNIX socket in tests and the fuzzer); the server
 * takes it (freed on failure too). */
struct evconnlistener;
struct http_server *http_server_new_listener(struct cp_core *core, struct evconnlistener *lev,
                                             char *err, size_t errlen);
void http_server_free(struct http_server *srv);
/* Take the limits from core->cfg again (SIGHUP); open connections are kept. */
void http_server_apply_config(struct http_server *srv);

/* Replies (each ends the req). `body` is JSON text in an evbuffer the call takes. */
void http_reply_buffer(struct req *r, int status, struct evbuffer *body);
void http_reply_typed(struct req *r, int status, const char *content_type, struct evbuffer *body);
void http_reply_json(struct req *r, int status, json_object *obj); /* takes obj */
void http_reply_error(struct req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Map a storage rc (< 0) to its HTTP error (404 / 409 / 400 / 503 / 500). */
void http_reply_storage_error(struct req *r, const struct cp_result *res, const char *what);
/* Watch the connection while the req waits (long poll). */
void http_hold(struct req *r, void (*on_gone)(struct req *r));
/* The wait is over and an answer is being prepared (possibly asynchronously): stop watching.
 * A client that leaves now is noticed by evhttp when the answer is written. */
void http_unhold(struct req *r);

/* A streamed reply (stream.c): the head now (chunked on HTTP/1.1, Connection: close), the body
 * in pieces for as long as the client stays. No reading and no read timeouts meanwhile (the
 * write timeout, limits.idle_timeout_seconds, stays). The req lives until the connection closes
 * — the client left, a write failed, after http_stream_end(), or at shutdown — when on_closed
 * runs once and the req is freed. -1 (nothing sent, the req untouched) when the client is gone
 * already. */
int http_stream_start(struct req *r, int status, const char *content_type,
                      void (*on_closed)(struct req *r));
/* Queue a piece (buf is drained). Returns the bytes queued and not yet taken by the client. */
size_t http_stream_write(struct req *r, struct evbuffer *buf);
size_t http_stream_queued(struct req *r);
/* Queue a piece (buf: not empty; drained) and call on_drained once everything queued has gone
 * to the socket (not if the connection closes first: on_closed runs instead). -1 (nothing
 * queued, no call) when the stream is over or buf is empty. */
int http_stream_write_then(struct req *r, struct evbuffer *buf, void (*on_drained)(struct req *r));
/* Nothing more: the connection closes once the rest is written. on_closed may run before this
 * returns (then r is gone). */
void http_stream_end(struct req *r);
int http_stream_ended(const struct req *r);
/* The body cannot be finished (a storage error after the head went out): close the connection
 * now, without the end, so the client sees a cut reply, never a complete wrong one. on_closed
 * runs before this returns. */
void http_stream_abort(struct req *r);

/* server.c's parts that stream.c and events.c share. */
struct http_conns *http_req_conns(const struct req *r);
struct sse_hub *http_sse_hub(const struct req *r);
void http_req_free(struct req *r);
const char *http_date_header(void);

/* json-c objects under the core's allocation rule (xalloc.h): never NULL. */
static inline json_object *xjson_object(void)
{
    json_object *o = json_object_new_object();
    if (!o) xalloc_die("json_object_new_object", sizeof(void *));
    return o;
}
static inline json_object *xjson_string(const char *s)
{
    json_object *o = json_object_new_string(s);
    if (!o) xalloc_die("json_object_new_string", strlen(s) + 1);
    return o;
}
static inline json_object *xjson_bool(int v)
{
    json_object *o = json_object_new_boolean(v);
    if (!o) xalloc_die("json_object_new_boolean", sizeof(int));
    return o;
}

/* Query parameter (first occurrence) or NULL. */
const char *http_query(struct req *r, const char *key);

/* The "health_probe" object (probe_json.c): taken apart into out (probe_def_clear() it, also
 * after a failure), or -1 with a message naming the member. The text form decodes what the
 * store keeps (probe_decode_fn, for the health monitor). */
int http_probe_from_json(json_object *obj, struct probe_def *out, char *err, size_t errlen);
int http_probe_decode(const char *text, struct probe_def *out, char *err, size_t errlen);

#endif
