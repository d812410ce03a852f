/* server.c — the evhttp server: routing (404/405) over the route table (routes.c), auth, body
 * limits and parsing, the server's life. Every request passes here once; handlers see a
 * validated struct req and reply through reply.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <cp/time.h>

#include "../xalloc.h"
#include "auth.h"
#include "server_state.h"
#include "conns.h"
#include "request.h"
#include "http.h"
#include "routes.h"
#include "sse.h"

#define MAX_SEGMENTS 8
/* The raw request path (before '?'), in bytes; longer paths get 414. Decoding never lengthens a
 * path and each segment's NUL replaces the '/' before it, so PATH_MAX_BYTES + 1 bytes always
 * hold the split segments. */
#define PATH_MAX_BYTES 2048

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
static struct route_pattern patterns[HTTP_MAX_ROUTES];

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

/* Match segments against route i; fills params (borrowed pointers into seg). The literal
 * segments are compared last to first: every route begins /api/control-plane, so the last
 * segment ("complete", "heartbeat", ...) tells most routes apart with one byte compared. */
static int match(size_t i, char **seg, int nseg, char **params)
{
    const struct route_pattern *p = &patterns[i];
    if (p->n != nseg) return 0;
    int np = 0;
    for (int k = nseg - 1; k >= 0; k--) {
        if (p->seg[k][0] == ':') {
            if (seg[k][0] == '\0' || ++np > 2) return 0; /* struct req holds two params */
        } else if (p->seg[k][0] != seg[k][0] || strcmp(p->seg[k], seg[k]) != 0) {
            return 0;
        }
    }
    for (int k = 0, j = 0; k < nseg && j < np; k++)
        if (p->seg[k][0] == ':') params[j++] = seg[k];
    return 1;
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
