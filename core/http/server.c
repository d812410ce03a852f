/* server.c — the evhttp server: routing (404/405), auth, body limits and parsing, replies.
 * Every request passes here once; handlers see a validated struct req. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <errno.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <strings.h>

#include <cp/time.h>

#include "../log.h"
#include "../metrics.h"
#include "../xalloc.h"
#include "auth.h"
#include "conns.h"
#include "request.h"
#include "http.h"
#include "routes.h"
#include "sse.h"
#include "utf8.h"

#define API "/api/control-plane"

const struct route http_routes[] = {
    {EVHTTP_REQ_GET, API "/health", system_health, -1},
    {EVHTTP_REQ_GET, "/metrics", system_metrics, -1},
    {EVHTTP_REQ_GET, API "/health/:id", system_agent_health, ROLE_READER},
    {EVHTTP_REQ_GET, API "/stats", system_stats, ROLE_READER},
    {EVHTTP_REQ_GET, API "/events", events_stream, ROLE_READER},
    {EVHTTP_REQ_GET, API "/queue", compat_queue, ROLE_READER},
    {EVHTTP_REQ_GET, API "/metrics", compat_metrics, ROLE_READER},
    {EVHTTP_REQ_GET, API "/plugins", system_plugins, ROLE_READER},
    {EVHTTP_REQ_POST, API "/agents", agents_register, ROLE_AGENT},
    {EVHTTP_REQ_GET, API "/agents", agents_list, ROLE_READER},
    {EVHTTP_REQ_GET, API "/agents/select", agents_select, ROLE_READER},
    {EVHTTP_REQ_GET, API "/agents/:id", agents_get, ROLE_READER},
    {EVHTTP_REQ_DELETE, API "/agents/:id", agents_delete, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/agents/:id/heartbeat", agents_heartbeat, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/agents/:id/drain", agents_drain, ROLE_ADMIN},
    {EVHTTP_REQ_POST, API "/agents/:id/undrain", agents_undrain, ROLE_ADMIN},
    {EVHTTP_REQ_POST, API "/tasks", tasks_submit, ROLE_ADMIN},
    {EVHTTP_REQ_GET, API "/tasks", tasks_list, ROLE_READER},
    {EVHTTP_REQ_DELETE, API "/tasks", tasks_purge, ROLE_ADMIN},
    {EVHTTP_REQ_POST, API "/tasks/claim", tasks_claim, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/batch", tasks_submit_batch, ROLE_ADMIN},
    {EVHTTP_REQ_GET, API "/tasks/:id", tasks_get, ROLE_READER},
    {EVHTTP_REQ_POST, API "/tasks/:id/start", tasks_start, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/complete", tasks_complete, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/fail", tasks_fail, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/cancel", tasks_cancel, ROLE_ADMIN},
    {EVHTTP_REQ_POST, API "/tasks/:id/extend", tasks_extend, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/retry", tasks_retry, ROLE_ADMIN},
};
const size_t http_n_routes = sizeof(http_routes) / sizeof(http_routes[0]);
_Static_assert(sizeof(http_routes) / sizeof(http_routes[0]) <= 32, "grow patterns[] below");

#define MAX_SEGMENTS 8
/* The raw request path (before '?'), in bytes; longer paths get 414. Decoding never lengthens a
 * path and each segment's NUL replaces the '/' before it, so PATH_MAX_BYTES + 1 bytes always
 * hold the split segments. */
#define PATH_MAX_BYTES 2048

struct http_server {
    struct cp_core *core;
    struct evhttp *http;
    json_tokener *tok;        /* reused for every body: a fresh one costs ~4 % of a request */
    struct http_conns *conns; /* accepting, deadlines, close callbacks (conns.c) */
    struct sse_hub *sse;      /* the event stream (sse.c) */
};

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

static const char *method_name(int m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    default:
        return "OTHER";
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Split a raw path into percent-decoded segments written into buf (no allocation: this runs
 * for every request). Returns the count, or -1 when malformed, too long or too deep. A decoded
 * NUL makes the path malformed. Every write into buf, the NUL after each segment included, is
 * checked against its end. */
static int split_path(const char *path, char **seg, int max, char *buf, size_t buflen)
{
    int n = 0;
    const char *p = path;
    char *out = buf, *end = buf + buflen;
    if (*p != '/') return -1;
    while (*p == '/') {
        p++;
        if (*p == '\0') break; /* trailing slash */
        if (n == max) return -1;
        seg[n++] = out;
        for (; *p && *p != '/'; p++) {
            char c = *p;
            if (c == '%') {
                int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
                if (lo < 0 || (hi == 0 && lo == 0)) return -1;
                c = (char)(hi * 16 + lo);
                p += 2;
            }
            if (out + 1 >= end) return -1; /* room for c and the segment's NUL */
            *out++ = c;
        }
        if (out >= end) return -1;
        *out++ = '\0';
    }
    return n;
}

/* Route patterns split into segments once (http_server_new), so matching a request is a few
 * strcmp per route, without copying. */
struct route_pattern {
    char buf[128];
    const char *seg[MAX_SEGMENTS];
    int n;
};
static struct route_pattern patterns[32];

static void split_patterns(void)
{
    for (size_t i = 0; i < http_n_routes; i++) {
        struct route_pattern *p = &patterns[i];
        snprintf(p->buf, sizeof p->buf, "%s", http_routes[i].pattern);
        p->n = 0;
        for (char *save, *tok = strtok_r(p->buf, "/", &save); tok && p->n < MAX_SEGMENTS;
             tok = strtok_r(NULL, "/", &save))
            p->seg[p->n++] = tok;
    }
}

/* Match segments against route i; fills params (borrowed pointers into seg). */
static int match(size_t i, char **seg, int nseg, char **params)
{
    const struct route_pattern *p = &patterns[i];
    if (p->n != nseg) return 0;
    int np = 0;
    for (int k = 0; k < nseg; k++) {
        if (p->seg[k][0] == ':') {
            if (seg[k][0] == '\0' || np == 2) return 0; /* struct req holds two params */
            params[np++] = seg[k];
        } else if (strcmp(p->seg[k], seg[k]) != 0) {
            return 0;
        }
    }
    return 1;
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
        if (body) evbuffer_free(body);
        return; /* freed by on_reply_complete or on_reply_conn_close */
    }
    if (evcon) conns_set_closecb(conns_of(r), evcon, NULL, NULL); /* set if it was ever held */
    conns_reply_begin(conns_of(r), evcon);
    evhttp_send_reply(r->ev, status, NULL, body);
    conns_reply_end(conns_of(r), evcon);
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

static void dispatch(struct evhttp_request *ev, void *arg)
{
    struct http_server *srv = arg;
    struct req *r = xcalloc(1, sizeof *r);
    r->ev = ev;
    r->core = srv->core;
    r->started_us = cp_monotonic_us();
    TAILQ_INIT(&r->query);
    conns_request_read(srv->conns, evhttp_request_get_connection(ev));
    int method = evhttp_request_get_command(ev);
    if (request_check_message(r, method) < 0) return;

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *qs = uri ? evhttp_uri_get_query(uri) : NULL;
    char *seg[MAX_SEGMENTS] = {0};
    char pathbuf[PATH_MAX_BYTES + 1];
    size_t path_len = path ? strlen(path) : 0;
    if (path_len > PATH_MAX_BYTES) {
        http_reply_error(r, 414, "uri_too_long", "the request path is %zu bytes; the limit is %d",
                         path_len, PATH_MAX_BYTES);
        return;
    }
    if (ui_path(path)) {
        ui_serve(r, method, path);
        return;
    }
    int nseg = path ? split_path(path, seg, MAX_SEGMENTS, pathbuf, sizeof pathbuf) : -1;
    if (qs && evhttp_parse_query_str(qs, &r->query) != 0) nseg = -1;

    const struct route *found = NULL;
    int allowed = 0; /* methods of the routes matching the path (for 405's Allow) */
    char allow[64] = "";
    char *params[2] = {0};
    for (size_t i = 0; nseg >= 0 && i < http_n_routes; i++) {
        char *p[2] = {0};
        if (!match(i, seg, nseg, p)) continue;
        if (http_routes[i].method == method) {
            found = &http_routes[i];
            params[0] = p[0], params[1] = p[1];
            break;
        }
        /* A literal route (/agents/select) shadows the :id route for its other methods. */
        allowed |= http_routes[i].method;
    }
    for (int bit = 1, len = 0; bit <= EVHTTP_REQ_PATCH && allowed; bit <<= 1)
        if (allowed & bit) {
            int n = snprintf(allow + len, sizeof allow - (size_t)len, "%s%s", len ? ", " : "",
                             method_name(bit));
            if (n < 0 || (size_t)n >= sizeof allow - (size_t)len) break;
            len += n;
        }
    if (found) {
        r->route = found;
        for (int i = 0; i < 2; i++)
            r->params[i] = params[i] ? xstrdup(params[i]) : NULL;
    }

    if (nseg < 0) {
        http_reply_error(r, 400, "invalid_field", "malformed request URI");
        return;
    }
    if (!found) {
        if (*allow) {
            evhttp_add_header(evhttp_request_get_output_headers(ev), "Allow", allow);
            http_reply_error(r, 405, "method_not_allowed", "%s is not allowed here; allowed: %s",
                             method_name(method), allow);
        } else {
            http_reply_error(r, 404, "not_found", "no such route: %s %.200s", method_name(method),
                             path ? path : "?");
        }
        return;
    }
    struct auth_result auth;
    const struct evkeyvalq *hdrs = evhttp_request_get_input_headers(ev);
    struct evkeyvalq cookie_auth;
    TAILQ_INIT(&cookie_auth);
    if (found->handler == events_stream) hdrs = events_auth_headers(hdrs, &cookie_auth);
    int denied = auth_check(r->core->cfg, found->min_role, hdrs, &auth) < 0;
    evhttp_clear_headers(&cookie_auth);
    if (denied) {
        http_reply_error(r, auth.status, auth.code, "%s", auth.message);
        return;
    }
    r->role = auth.role;
    if (request_check_text(r) < 0) return;
    if (method != EVHTTP_REQ_GET && request_parse_body(r, srv->tok) < 0) return;
    /* GET handlers read the query only; r->body stays NULL for them. */
    found->handler(r);
}

static int split_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon) return -1;
    size_t hl = (size_t)(colon - listen);
    if (listen[0] == '[' && hl >= 2 && listen[hl - 1] == ']') {
        listen++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen) return -1;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    *port = atoi(colon + 1);
    return *port > 0 && *port < 65536 ? 0 : -1;
}

static void server_free(struct http_server *srv)
{
    if (!srv) return;
    conns_stop(srv->conns); /* before evhttp_free: its close callbacks still find their state */
    if (srv->http) evhttp_free(srv->http);
    sse_hub_free(srv->sse); /* its readers' connections closed with evhttp */
    conns_free(srv->conns);
    if (srv->tok) json_tokener_free(srv->tok);
    free(srv);
}

/* The server without a listening socket yet. */
static struct http_server *server_create(struct cp_core *core, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    struct http_server *srv = xcalloc(1, sizeof *srv);
    srv->core = core;
    if (!(srv->tok = json_tokener_new())) xalloc_die("json_tokener_new", sizeof(json_tokener));
    if (!(srv->http = evhttp_new(core->base))) xalloc_die("evhttp_new", sizeof(void *));
    srv->conns = conns_new(core, srv->http);
    srv->sse = sse_hub_new(core);
    json_tokener_set_flags(srv->tok, JSON_TOKENER_STRICT); /* no single quotes, trailing commas */
    split_patterns();
    /* Bodies between the limit and twice it get our JSON 413; larger ones are cut off by
     * evhttp itself (its page is rewritten into JSON by conns.c) so that no request can make
     * us buffer more. */
    evhttp_set_max_body_size(srv->http, (ev_ssize_t)core->cfg->max_body_bytes * 2 + 4096);
    evhttp_set_max_headers_size(srv->http, 64 * 1024);
    /* Every method reaches dispatch(), which answers those cpd does not serve with JSON
     * (evhttp would answer them 501 with a page of its own). */
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                              EVHTTP_REQ_CONNECT);
    evhttp_set_gencb(srv->http, dispatch, srv);
    return srv;
}

struct http_server *http_server_new(struct cp_core *core, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (split_listen(core->cfg->listen, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "listen: '%s' is not host:port", core->cfg->listen);
        return NULL;
    }
    struct http_server *srv = server_create(core, err, errlen);
    if (!srv) return NULL;
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(srv->http, host, (ev_uint16_t)port);
    if (!bound) {
        snprintf(err, errlen, "listen: cannot bind %s: %s", core->cfg->listen, strerror(errno));
        server_free(srv);
        return NULL;
    }
    if (conns_attach_listener(srv->conns, evhttp_bound_socket_get_listener(bound)) < 0) {
        snprintf(err, errlen, "listen: out of memory");
        server_free(srv);
        return NULL;
    }
    return srv;
}

struct http_server *http_server_new_listener(struct cp_core *core, struct evconnlistener *lev,
                                             char *err, size_t errlen)
{
    struct http_server *srv = server_create(core, err, errlen);
    if (!srv) {
        evconnlistener_free(lev);
        return NULL;
    }
    struct evhttp_bound_socket *bound = evhttp_bind_listener(srv->http, lev);
    if (!bound || conns_attach_listener(srv->conns, lev) < 0) {
        if (!bound) evconnlistener_free(lev);
        snprintf(err, errlen, "listen: out of memory");
        server_free(srv);
        return NULL;
    }
    return srv;
}

void http_server_apply_config(struct http_server *srv)
{
    if (srv)
        evhttp_set_max_body_size(srv->http, (ev_ssize_t)srv->core->cfg->max_body_bytes * 2 + 4096);
}

void http_server_free(struct http_server *srv)
{
    server_free(srv);
}
