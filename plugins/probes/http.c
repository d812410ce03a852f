/* http.c — health probe "http": GET spec "url" with libevent's evhttp client; 2xx passes.
 *
 * Spec members: "url" (required): http://host[:port][/path][?query]. https is not supported.
 *
 * Each check owns one evhttp connection (sent with "Connection: close"), whose I/O timeout is
 * the spec's timeout_ms. evhttp's callbacks only call done(); the host delivers it, enforces the
 * deadline and calls http_release() — never from inside evhttp's callbacks — which frees the
 * connection (cp/probe.h). Host names are resolved with evdns (one resolver per instance, made
 * on first use), so a probe never blocks the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <cp/probe.h>
#include <cp/time.h>

#define HTTP_MAX_HEADERS_SIZE (64 * 1024)
#define HTTP_MAX_BODY_SIZE (1024 * 1024)

struct http_target {
    char host[256]; /* without IPv6 brackets */
    char host_header[300];
    int port;
    char path[2048]; /* path and query, at least "/" */
};

struct http_state {
    const struct cp_host *host;
    struct evdns_base *dns; /* lazily created on the host's loop */
};

/* One check: its connection and where to report. Freed by http_release() only. */
struct http_check {
    struct evhttp_connection *conn;
    cp_probe_done_cb done;
    void *cookie;
    uint64_t timeout_ms;
    int req_error; /* enum evhttp_request_error + 1, 0 when none was reported */
};

/* 0, or -1 with msg naming the member. */
static int http_parse(const char *url, struct http_target *t, char *msg, size_t len)
{
    if (!url || !*url) {
        snprintf(msg, len, "health_probe.url is required");
        return -1;
    }
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(url, 0);
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    int rc = -1;
    if (scheme && strcasecmp(scheme, "https") == 0) {
        snprintf(msg, len, "health_probe.url must be an http:// URL (https is not supported)");
    } else if (!scheme || strcasecmp(scheme, "http") != 0) {
        snprintf(msg, len, "health_probe.url must be an http:// URL (http://host:port/path)");
    } else if (!host || !*host || strlen(host) >= sizeof(t->host)) {
        snprintf(msg, len, "health_probe.url must name a host (http://host:port/path)");
    } else if (evhttp_uri_get_userinfo(u)) {
        snprintf(msg, len, "health_probe.url must not contain credentials");
    } else if (evhttp_uri_get_port(u) == 0 || evhttp_uri_get_port(u) > 65535) {
        snprintf(msg, len, "health_probe.url port must be 1-65535");
    } else {
        const char *path = evhttp_uri_get_path(u), *query = evhttp_uri_get_query(u);
        int port = evhttp_uri_get_port(u) < 0 ? 80 : evhttp_uri_get_port(u);
        size_t hl = strlen(host);
        int n = snprintf(t->path, sizeof(t->path), "%s%s%s", path && *path ? path : "/",
                         query ? "?" : "", query ? query : "");
        if (n < 0 || (size_t)n >= sizeof(t->path)) {
            snprintf(msg, len, "health_probe.url is too long");
        } else {
            if (host[0] == '[' && hl > 2 && host[hl - 1] == ']')
                snprintf(t->host, sizeof(t->host), "%.*s", (int)(hl - 2), host + 1);
            else
                snprintf(t->host, sizeof(t->host), "%s", host);
            if (port == 80)
                snprintf(t->host_header, sizeof(t->host_header), "%s", host);
            else
                snprintf(t->host_header, sizeof(t->host_header), "%s:%d", host, port);
            t->port = port;
            rc = 0;
        }
    }
    if (u) evhttp_uri_free(u);
    return rc;
}

static void http_on_request_error(enum evhttp_request_error e, void *arg)
{
    struct http_check *c = arg;
    c->req_error = (int)e + 1;
}

/* Called with req == NULL after http_on_request_error, or with a request whose response code is
 * 0 when the connection could not be made. */
static void http_on_response(struct evhttp_request *req, void *arg)
{
    struct http_check *c = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    char msg[128];
    if (code >= 200 && code < 300) {
        c->done(c->cookie, 1, -1, NULL);
        return;
    }
    if (code > 0) {
        snprintf(msg, sizeof(msg), "HTTP %d", code);
    } else {
        switch (c->req_error - 1) {
        case EVREQ_HTTP_TIMEOUT:
            snprintf(msg, sizeof(msg), "timed out after %llu ms",
                     (unsigned long long)c->timeout_ms);
            break;
        case EVREQ_HTTP_EOF:
            snprintf(msg, sizeof(msg), "connection closed before a response");
            break;
        case EVREQ_HTTP_INVALID_HEADER:
            snprintf(msg, sizeof(msg), "invalid HTTP response");
            break;
        case EVREQ_HTTP_DATA_TOO_LONG:
            snprintf(msg, sizeof(msg), "response too large");
            break;
        default:
            snprintf(msg, sizeof(msg), "connection failed (refused, unreachable or unresolvable)");
        }
    }
    c->done(c->cookie, 0, -1, msg);
}

static int http_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    struct http_state *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err->msg, sizeof(err->msg), "http probe: out of memory");
        return CP_ERR_NOMEM;
    }
    st->host = host;
    *state = st;
    return 0;
}

static void http_destroy(void *state)
{
    struct http_state *st = state;
    if (!st) return;
    if (st->dns) evdns_base_free(st->dns, 0);
    free(st);
}

static int http_validate(void *state, const struct cp_probe_spec *spec, struct cp_err *err)
{
    (void)state;
    struct http_target t;
    if (http_parse(cp_probe_spec_get(spec, "url"), &t, err->msg, sizeof(err->msg)) != 0)
        return CP_ERR_INVALID;
    return 0;
}

static int http_start(void *state, const struct cp_probe_spec *spec, cp_probe_done_cb done,
                      void *cookie, void **handle, struct cp_err *err)
{
    struct http_state *st = state;
    struct http_target t;
    if (http_parse(cp_probe_spec_get(spec, "url"), &t, err->msg, sizeof(err->msg)) != 0)
        return CP_ERR_INVALID;
    struct event_base *base = st->host->event_base ? st->host->event_base(st->host) : NULL;
    if (!base) {
        snprintf(err->msg, sizeof(err->msg), "http probe: the host has no event loop");
        return CP_ERR_UNAVAILABLE;
    }
    if (!st->dns)
        st->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                           EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    /* Without a resolver evhttp would resolve with blocking getaddrinfo(): refuse instead. */
    if (!st->dns) {
        snprintf(err->msg, sizeof(err->msg), "http probe: cannot create a DNS resolver");
        return CP_ERR_UNAVAILABLE;
    }
    struct http_check *c = calloc(1, sizeof(*c));
    if (c) c->conn = evhttp_connection_base_new(base, st->dns, t.host, (unsigned short)t.port);
    struct evhttp_request *req = c && c->conn ? evhttp_request_new(http_on_response, c) : NULL;
    if (!req) {
        if (c && c->conn) evhttp_connection_free(c->conn);
        free(c);
        snprintf(err->msg, sizeof(err->msg), "http probe: out of memory");
        return CP_ERR_NOMEM;
    }
    c->done = done;
    c->cookie = cookie;
    c->timeout_ms = spec->timeout_ms;
    if (spec->timeout_ms) {
        struct timeval tv = cp_ms_to_timeval((int64_t)spec->timeout_ms);
        evhttp_connection_set_timeout_tv(c->conn, &tv);
    }
    evhttp_connection_set_retries(c->conn, 0);
    evhttp_connection_set_max_headers_size(c->conn, HTTP_MAX_HEADERS_SIZE);
    evhttp_connection_set_max_body_size(c->conn, HTTP_MAX_BODY_SIZE);
    evhttp_request_set_error_cb(req, http_on_request_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", t.host_header);
    evhttp_add_header(h, "User-Agent", "cpd-probe/1.0");
    evhttp_add_header(h, "Accept", "*/*");
    evhttp_add_header(h, "Connection", "close");
    /* On failure the request is already freed, or failed through http_on_response; either way
     * the check has (or now gets) its outcome, which the host delivers after start(). */
    if (evhttp_make_request(c->conn, req, EVHTTP_REQ_GET, t.path) != 0)
        done(cookie, 0, -1, "cannot start the HTTP request");
    *handle = c;
    return 0;
}

/* Never inside evhttp's callbacks (the host's promise), so the connection may go here. */
static void http_release(void *state, void *handle)
{
    (void)state;
    struct http_check *c = handle;
    evhttp_connection_free(c->conn); /* also frees a pending request, silently */
    free(c);
}

static const struct cp_probe_ops http_ops = {
    .version = CP_PROBE_OPS_VERSION,
    .create = http_create,
    .destroy = http_destroy,
    .validate = http_validate,
    .start = http_start,
    .release = http_release,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_PROBE, "http", "1.0", &http_ops);
