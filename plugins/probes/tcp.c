/* tcp.c — health probe "tcp": passes when a TCP connection to spec "address" can be opened.
 *
 * Spec members: "address" (required): "host:port", IPv6 literals as "[::1]:port".
 *
 * The connect is a non-blocking bufferevent; host names are resolved with evdns (one resolver
 * per instance, made on first use), numeric addresses directly. The connection is closed as
 * soon as it is made; nothing is sent. As in http.c, each check has one timer that is first the
 * deadline and then, re-armed at 0 ms, the delivery of the recorded result: done() is never
 * called inside start(), and the bufferevent is never freed inside its own callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <cp/probe.h>
#include <cp/time.h>

#define TCP_DEFAULT_TIMEOUT_MS 10000

struct tcp_target {
    char host[256];
    int port;
    struct sockaddr_storage sa; /* when numeric */
    int sa_len;                 /* 0 when host must be resolved */
};

struct tcp_state {
    const struct cp_host *host;
    struct evdns_base *dns;
    struct tcp_check *checks; /* in flight, so destroy() can free them */
};

struct tcp_check {
    struct tcp_state *st;
    struct tcp_check *prev, *next;
    struct bufferevent *bev;
    struct event *timer;
    cp_probe_done_cb done;
    void *cookie;
    uint64_t timeout_ms;
    double t0_ms, latency_ms;
    int have_result, ok;
    char error[256];
};

static double tcp_now_ms(void)
{
    return (double)cp_monotonic_us() / 1e3;
}

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

static void tcp_check_free(struct tcp_check *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->st->checks = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->bev) bufferevent_free(c->bev); /* closes the socket, cancels a pending lookup */
    if (c->timer) event_free(c->timer);
    free(c);
}

static void tcp_record(struct tcp_check *c, int ok, const char *error)
{
    if (c->have_result) return;
    c->have_result = 1;
    c->ok = ok;
    c->latency_ms = tcp_now_ms() - c->t0_ms;
    snprintf(c->error, sizeof(c->error), "%s", error ? error : "");
    static const struct timeval zero = {0, 0};
    event_add(c->timer, &zero);
}

static void tcp_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tcp_check *c = arg;
    if (!c->have_result) {
        c->ok = 0;
        c->latency_ms = tcp_now_ms() - c->t0_ms;
        snprintf(c->error, sizeof(c->error), "timed out after %llu ms",
                 (unsigned long long)c->timeout_ms);
    }
    char error[sizeof(c->error)];
    memcpy(error, c->error, sizeof(error));
    cp_probe_done_cb done = c->done;
    void *cookie = c->cookie;
    int ok = c->ok;
    double latency = c->latency_ms;
    tcp_check_free(c);
    done(cookie, ok, latency, ok ? NULL : error);
}

static void tcp_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct tcp_check *c = arg;
    char msg[200];
    if (what & BEV_EVENT_CONNECTED) {
        tcp_record(c, 1, NULL);
        return;
    }
    if (!(what & (BEV_EVENT_ERROR | BEV_EVENT_EOF | BEV_EVENT_TIMEOUT))) return;
    int dns_err = bufferevent_socket_get_dns_error(bev);
    if (dns_err)
        snprintf(msg, sizeof(msg), "cannot resolve host: %s", evutil_gai_strerror(dns_err));
    else
        snprintf(msg, sizeof(msg), "connect failed: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    tcp_record(c, 0, msg);
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
    while (st->checks)
        tcp_check_free(st->checks);
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
    if (!c) goto nomem;
    c->st = st;
    c->done = done;
    c->cookie = cookie;
    c->timeout_ms = spec->timeout_ms ? spec->timeout_ms : TCP_DEFAULT_TIMEOUT_MS;
    c->t0_ms = tcp_now_ms();
    c->next = st->checks;
    if (st->checks) st->checks->prev = c;
    st->checks = c;
    c->timer = evtimer_new(base, tcp_on_timer, c);
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!c->timer || !c->bev) goto nomem_check;
    struct timeval tv = cp_ms_to_timeval((int64_t)c->timeout_ms);
    if (evtimer_add(c->timer, &tv) != 0) goto nomem_check;
    bufferevent_setcb(c->bev, NULL, NULL, tcp_on_event, c);
    int rc = t.sa_len
                 ? bufferevent_socket_connect(c->bev, (struct sockaddr *)&t.sa, t.sa_len)
                 : bufferevent_socket_connect_hostname(c->bev, st->dns, AF_UNSPEC, t.host, t.port);
    if (rc != 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "connect failed: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        tcp_record(c, 0, msg);
    }
    *handle = c;
    return 0;

nomem_check:
    tcp_check_free(c);
nomem:
    snprintf(err->msg, sizeof(err->msg), "tcp probe: out of memory");
    return CP_ERR_NOMEM;
}

static void tcp_cancel(void *state, void *handle)
{
    (void)state;
    if (handle) tcp_check_free(handle);
}

static const struct cp_probe_ops tcp_ops = {
    .version = CP_PROBE_OPS_VERSION,
    .create = tcp_create,
    .destroy = tcp_destroy,
    .validate = tcp_validate,
    .start = tcp_start,
    .cancel = tcp_cancel,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_PROBE, "tcp", "1.0", &tcp_ops);
