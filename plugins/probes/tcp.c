/* tcp.c — health probe "tcp": passes when a TCP connection to spec "address" can be opened.
 *
 * Spec members: "address" (required): "host:port", IPv6 literals as "[::1]:port".
 *
 * The connect is a non-blocking bufferevent; host names are resolved with evdns (one resolver
 * per instance, made on first use), numeric addresses directly. The connection is closed as
 * soon as it is made; nothing is sent. The deadline, the delivery of done() and the latency
 * are the host's (cp/probe.h): this file only connects and says how it went.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <cp/probe.h>

struct tcp_target {
    char host[256];
    int port;
    struct sockaddr_storage sa; /* when numeric */
    int sa_len;                 /* 0 when host must be resolved */
};

struct tcp_state {
    const struct cp_host *host;
    struct evdns_base *dns;
};

/* One check: its connection and where to report. Freed by tcp_release() only. */
struct tcp_check {
    struct bufferevent *bev;
    cp_probe_done_cb done;
    void *cookie;
};

/* "host:port" or "[v6]:port". 0, or -1 with msg naming the member. */
static int tcp_parse(const char *addr, struct tcp_target *t, char *msg, size_t len)
{
    static const char *const syntax = "health_probe.address must be host:port (e.g. "
                                      "\"10.0.0.5:8080\" or \"[::1]:8080\")";
    memset(t, 0, sizeof(*t));
    if (!addr || !*addr) {
        snprintf(msg, len, "health_probe.address is required");
        return -1;
    }
    const char *colon = strrchr(addr, ':');
    const char *hs = addr, *he = colon;
    if (addr[0] == '[') { /* [v6]:port */
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':') goto bad;
        hs = addr + 1;
        he = rb;
        colon = rb + 1;
    } else if (colon && memchr(addr, ':', (size_t)(colon - addr))) {
        goto bad; /* a bare IPv6 literal is ambiguous */
    }
    if (!colon || he == hs || (size_t)(he - hs) >= sizeof(t->host)) goto bad;
    char *end;
    const char *ps = colon + 1;
    if (*ps < '0' || *ps > '9') goto bad;
    long port = strtol(ps, &end, 10);
    if (*end || port < 1 || port > 65535) {
        snprintf(msg, len, "health_probe.address port must be 1-65535");
        return -1;
    }
    memcpy(t->host, hs, (size_t)(he - hs));
    for (const char *p = t->host; *p; p++)
        if (!(*p == '.' || *p == '-' || *p == '_' || *p == ':' || (*p >= '0' && *p <= '9') ||
              ((*p | 32) >= 'a' && (*p | 32) <= 'z')))
            goto bad;
    t->port = (int)port;
    int sl = (int)sizeof(t->sa);
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&t->sa, &sl) == 0)
        t->sa_len = sl;
    else if (addr[0] == '[')
        goto bad; /* brackets hold only an IPv6 literal */
    return 0;
bad:
    snprintf(msg, len, "%s", syntax);
    return -1;
}

static void tcp_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct tcp_check *c = arg;
    char msg[200];
    if (what & BEV_EVENT_CONNECTED) {
        c->done(c->cookie, 1, -1, NULL);
        return;
    }
    if (!(what & (BEV_EVENT_ERROR | BEV_EVENT_EOF | BEV_EVENT_TIMEOUT))) return;
    int dns_err = bufferevent_socket_get_dns_error(bev);
    if (dns_err)
        snprintf(msg, sizeof(msg), "cannot resolve host: %s", evutil_gai_strerror(dns_err));
    else
        snprintf(msg, sizeof(msg), "connect failed: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    c->done(c->cookie, 0, -1, msg);
}

static int tcp_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    struct tcp_state *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err->msg, sizeof(err->msg), "tcp probe: out of memory");
        return CP_ERR_NOMEM;
    }
    st->host = host;
    *state = st;
    return 0;
}

static void tcp_destroy(void *state)
{
    struct tcp_state *st = state;
    if (!st) return;
    if (st->dns) evdns_base_free(st->dns, 0);
    free(st);
}

static int tcp_validate(void *state, const struct cp_probe_spec *spec, struct cp_err *err)
{
    (void)state;
    struct tcp_target t;
    if (tcp_parse(cp_probe_spec_get(spec, "address"), &t, err->msg, sizeof(err->msg)) != 0)
        return CP_ERR_INVALID;
    return 0;
}

static int tcp_start(void *state, const struct cp_probe_spec *spec, cp_probe_done_cb done,
                     void *cookie, void **handle, struct cp_err *err)
{
    struct tcp_state *st = state;
    struct tcp_target t;
    if (tcp_parse(cp_probe_spec_get(spec, "address"), &t, err->msg, sizeof(err->msg)) != 0)
        return CP_ERR_INVALID;
    struct event_base *base = st->host->event_base ? st->host->event_base(st->host) : NULL;
    if (!base) {
        snprintf(err->msg, sizeof(err->msg), "tcp probe: the host has no event loop");
        return CP_ERR_UNAVAILABLE;
    }
    if (!t.sa_len && !st->dns)
        st->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                           EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!t.sa_len && !st->dns) {
        snprintf(err->msg, sizeof(err->msg), "tcp probe: cannot create a DNS resolver");
        return CP_ERR_UNAVAILABLE;
    }
    struct tcp_check *c = calloc(1, sizeof(*c));
    if (c)
        c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!c || !c->bev) {
        free(c);
        snprintf(err->msg, sizeof(err->msg), "tcp probe: out of memory");
        return CP_ERR_NOMEM;
    }
    c->done = done;
    c->cookie = cookie;
    bufferevent_setcb(c->bev, NULL, NULL, tcp_on_event, c);
    int rc = t.sa_len
                 ? bufferevent_socket_connect(c->bev, (struct sockaddr *)&t.sa, t.sa_len)
                 : bufferevent_socket_connect_hostname(c->bev, st->dns, AF_UNSPEC, t.host, t.port);
    if (rc != 0) { /* the host delivers it later: done() may be called inside start() */
        char msg[200];
        snprintf(msg, sizeof(msg), "connect failed: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        done(cookie, 0, -1, msg);
    }
    *handle = c;
    return 0;
}

/* Never inside our own callbacks (the host's promise), so the bufferevent may go here. */
static void tcp_release(void *state, void *handle)
{
    (void)state;
    struct tcp_check *c = handle;
    bufferevent_free(c->bev); /* closes the socket, cancels a pending lookup */
    free(c);
}

static const struct cp_probe_ops tcp_ops = {
    .version = CP_PROBE_OPS_VERSION,
    .create = tcp_create,
    .destroy = tcp_destroy,
    .validate = tcp_validate,
    .start = tcp_start,
    .release = tcp_release,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_PROBE, "tcp", "1.0", &tcp_ops);
