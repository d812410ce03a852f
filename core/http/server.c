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

#include "../log.h"
#include "../metrics.h"
#include "auth.h"
#include "http.h"
#include "routes.h"

#define API "/api/control-plane"

const struct route http_routes[] = {
    {EVHTTP_REQ_GET, API "/health", system_health, -1},
    {EVHTTP_REQ_GET, "/metrics", system_metrics, -1},
    {EVHTTP_REQ_GET, API "/health/:id", system_agent_health, ROLE_READER},
    {EVHTTP_REQ_GET, API "/stats", system_stats, ROLE_READER},
    {EVHTTP_REQ_POST, API "/agents", agents_register, ROLE_AGENT},
    {EVHTTP_REQ_GET, API "/agents", agents_list, ROLE_READER},
    {EVHTTP_REQ_GET, API "/agents/select", agents_select, ROLE_READER},
    {EVHTTP_REQ_GET, API "/agents/:id", agents_get, ROLE_READER},
    {EVHTTP_REQ_DELETE, API "/agents/:id", agents_delete, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/agents/:id/heartbeat", agents_heartbeat, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks", tasks_submit, ROLE_ADMIN},
    {EVHTTP_REQ_GET, API "/tasks", tasks_list, ROLE_READER},
    {EVHTTP_REQ_POST, API "/tasks/claim", tasks_claim, ROLE_AGENT},
    {EVHTTP_REQ_GET, API "/tasks/:id", tasks_get, ROLE_READER},
    {EVHTTP_REQ_POST, API "/tasks/:id/start", tasks_start, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/complete", tasks_complete, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/fail", tasks_fail, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/cancel", tasks_cancel, ROLE_ADMIN},
};
const size_t http_n_routes = sizeof(http_routes) / sizeof(http_routes[0]);
_Static_assert(sizeof(http_routes) / sizeof(http_routes[0]) <= 32, "grow patterns[] below");

#define MAX_SEGMENTS 8

struct http_server {
    struct cp_core *core;
    struct evhttp *http;
    json_tokener *tok; /* reused for every body: a fresh one costs ~4 % of a request */
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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
 * NUL makes the path malformed. */
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
            if (out + 1 >= end) return -1;
            *out++ = c;
        }
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
            if (seg[k][0] == '\0') return 0;
            params[np++] = seg[k];
        } else if (strcmp(p->seg[k], seg[k]) != 0) {
            return 0;
        }
    }
    return 1;
}

static void req_free(struct req *r)
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
    if (evcon) evhttp_connection_set_closecb(evcon, NULL, NULL);
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
    evhttp_connection_set_closecb(evcon, on_conn_close, r);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0) return;
    struct event_base *base = r->core->base;
    short ev = (event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE) ? EV_CLOSED : EV_READ;
    r->watch = event_new(base, fd, ev | EV_PERSIST, on_peer_closed, r);
    event_add(r->watch, NULL);
}

static void on_reply_complete(struct evhttp_request *ev, void *arg)
{
    (void)ev;
    struct req *r = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    if (evcon) evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (r->on_written) r->on_written(r, 1);
    req_free(r);
}

/* When the reply was handed to a connection that then failed before the write completed,
 * evhttp frees the request without completing: the close callback reports it. */
static void on_reply_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct req *r = arg;
    if (r->on_written) r->on_written(r, 0);
    req_free(r);
}

/* The Date header, formatted once a second: evhttp would format it for every reply. */
static const char *date_header(void)
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
    double secs = (double)(mono_us() - r->started_us) / 1e6;
    metrics_http_request(r->route ? r->route->pattern : "unmatched", status, secs);
    unwatch(r);
    if (r->gone) {
        /* The client left. A request evhttp detached is ours to free; otherwise the caller
         * (on_peer_closed) frees the connection and the request with it. */
        if (r->on_written) r->on_written(r, 0);
        if (r->ev_detached) evhttp_request_free(r->ev);
        if (body) evbuffer_free(body);
        req_free(r);
        return;
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->ev);
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    evhttp_add_header(out, "Content-Type", content_type);
    evhttp_add_header(out, "Date", date_header());
    if (r->on_written) {
        evhttp_request_set_on_complete_cb(r->ev, on_reply_complete, r);
        evhttp_connection_set_closecb(evcon, on_reply_conn_close, r);
        evhttp_send_reply(r->ev, status, NULL, body);
        if (body) evbuffer_free(body);
        return; /* freed by on_reply_complete or on_reply_conn_close */
    }
    if (evcon) evhttp_connection_set_closecb(evcon, NULL, NULL); /* set if it was ever held */
    evhttp_send_reply(r->ev, status, NULL, body);
    if (body) evbuffer_free(body);
    req_free(r);
}

void http_reply_json(struct req *r, int status, json_object *obj)
{
    struct evbuffer *b = evbuffer_new();
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
    json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(msg));
    json_object_object_add(o, "code", json_object_new_string(code));
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
    case CP_ERR_UNAVAILABLE:
        http_reply_error(r, 503, "storage_unavailable",
                         "the storage backend cannot be reached; retry later");
        return;
    default:
        log_error("storage error %d on %s: %s", res->rc, what, msg);
        http_reply_error(r, 500, "internal", "internal error");
    }
}

const char *http_query(struct req *r, const char *key)
{
    return evhttp_find_header(&r->query, key);
}

static int content_type_is_json(const char *ct)
{
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n) != 0) return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* json-c's strict mode still takes 'single-quoted' keys; JSON has no quote but '"'. */
static int has_stray_quote(const char *text, size_t len)
{
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '\'') {
            return 1;
        }
    }
    return 0;
}

/* Parse the body into r->body (an object). Replies and returns -1 on a bad body. */
static int parse_body(struct req *r, json_tokener *tok)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    size_t len = evbuffer_get_length(in);
    if (len > r->core->cfg->max_body_bytes) {
        http_reply_error(r, 413, "payload_too_large",
                         "request body of %zu bytes is over the %zu "
                         "byte limit (limits.max_body_bytes)",
                         len, r->core->cfg->max_body_bytes);
        return -1;
    }
    if (len == 0) {
        r->body = json_object_new_object();
        return 0;
    }
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
    if (ct && !content_type_is_json(ct)) {
        http_reply_error(r, 415, "unsupported_media_type",
                         "Content-Type must be application/json, not '%.64s'", ct);
        return -1;
    }
    const char *text = (const char *)evbuffer_pullup(in, -1);
    if (memchr(text, '\0', len)) {
        http_reply_error(r, 400, "invalid_json", "request body is not valid JSON: a NUL byte");
        return -1;
    }
    json_tokener_reset(tok);
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    while (obj && used < len && isspace((unsigned char)text[used]))
        used++;
    if (obj && has_stray_quote(text, len)) jerr = json_tokener_error_parse_unexpected;
    if (!obj || jerr != json_tokener_success || used != len) {
        if (obj) json_object_put(obj);
        const char *why = jerr == json_tokener_continue  ? "unexpected end of input"
                          : jerr != json_tokener_success ? json_tokener_error_desc(jerr)
                                                         : "trailing characters after the value";
        http_reply_error(r, 400, "invalid_json", "request body is not valid JSON: %s", why);
        return -1;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        http_reply_error(r, 400, "invalid_json", "request body must be a JSON object");
        return -1;
    }
    r->body = obj;
    return 0;
}

static void dispatch(struct evhttp_request *ev, void *arg)
{
    struct http_server *srv = arg;
    struct req *r = calloc(1, sizeof *r);
    if (!r) {
        evhttp_send_error(ev, 500, NULL);
        return;
    }
    r->ev = ev;
    r->core = srv->core;
    r->started_us = mono_us();
    TAILQ_INIT(&r->query);

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *qs = uri ? evhttp_uri_get_query(uri) : NULL;
    char *seg[MAX_SEGMENTS] = {0};
    char pathbuf[2048];
    int nseg = path ? split_path(path, seg, MAX_SEGMENTS, pathbuf, sizeof pathbuf) : -1;
    if (qs && evhttp_parse_query_str(qs, &r->query) != 0) nseg = -1;

    int method = evhttp_request_get_command(ev);
    const struct route *found = NULL;
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
        const char *m = method_name(http_routes[i].method);
        if (!strstr(allow, m)) {
            if (*allow) strcat(allow, ", ");
            strcat(allow, m);
        }
    }
    if (found) {
        r->route = found;
        for (int i = 0; i < 2; i++)
            r->params[i] = params[i] ? strdup(params[i]) : NULL;
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
    if (auth_check(r) < 0) return;
    if (method != EVHTTP_REQ_GET && parse_body(r, srv->tok) < 0) return;
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

struct http_server *http_server_new(struct cp_core *core, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (split_listen(core->cfg->listen, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "listen: '%s' is not host:port", core->cfg->listen);
        return NULL;
    }
    struct http_server *srv = calloc(1, sizeof *srv);
    json_tokener *tok = srv ? json_tokener_new() : NULL;
    if (!tok) {
        snprintf(err, errlen, "out of memory");
        free(srv);
        return NULL;
    }
    srv->core = core;
    srv->tok = tok;
    json_tokener_set_flags(srv->tok, JSON_TOKENER_STRICT); /* no single quotes, trailing commas */
    split_patterns();
    srv->http = evhttp_new(core->base);
    /* Bodies between the limit and twice it get our JSON 413; larger ones are cut off by
     * evhttp itself (413 without a JSON body) so that no request can make us buffer more. */
    evhttp_set_max_body_size(srv->http, (ev_ssize_t)core->cfg->max_body_bytes * 2 + 4096);
    evhttp_set_max_headers_size(srv->http, 64 * 1024);
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_OPTIONS);
    evhttp_set_timeout(srv->http, 120);
    evhttp_set_gencb(srv->http, dispatch, srv);
    if (!evhttp_bind_socket_with_handle(srv->http, host, (ev_uint16_t)port)) {
        snprintf(err, errlen, "listen: cannot bind %s: %s", core->cfg->listen, strerror(errno));
        evhttp_free(srv->http);
        json_tokener_free(srv->tok);
        free(srv);
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
    if (!srv) return;
    evhttp_free(srv->http);
    json_tokener_free(srv->tok);
    free(srv);
}
