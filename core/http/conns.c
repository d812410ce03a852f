/* conns.c — accepting, counting, timing out and closing the server's connections (see
 * conns.h). Ownership: a struct conn is created with the connection's bufferevent, adopted once
 * evhttp has built its evhttp_connection around it, and freed from that connection's close
 * callback. */
#include "conns.h"
#include "conns_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "../log.h"
#include "../xalloc.h"

#define RESUME_FIRST_MS 20 /* first pause after an accept() failure */
#define RESUME_MAX_MS 1000 /* the pause doubles up to this */
#define LOG_EVERY_MS 10000 /* at most one line per this while accepting fails or is refused */
#define FD_RESERVE 64      /* descriptors kept for Redis, probes, plugins, logs */

/* evhttp's listener calls its error callback with evhttp as the argument: this list maps the
 * listener back to its tracker. */
static struct http_conns *registered;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval ms_tv(int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

size_t conns_open(const struct http_conns *c)
{
    return c->open;
}

static void update_listeners(struct http_conns *c)
{
    if (!c->lev) return;
    int full = c->open >= c->core->cfg->max_connections;
    int want_lev = !c->paused && !full, want_refuser = !c->paused && full && c->refuser;
    if (want_lev != c->lev_on) {
        if (want_lev)
            evconnlistener_enable(c->lev);
        else
            evconnlistener_disable(c->lev);
        c->lev_on = want_lev;
    }
    if (want_refuser != c->refuser_on) {
        if (want_refuser)
            evconnlistener_enable(c->refuser);
        else
            evconnlistener_disable(c->refuser);
        c->refuser_on = want_refuser;
    }
}

static void accept_succeeded(struct http_conns *c)
{
    if (c->fail_since_ms) {
        log_info("http: accepting connections again (%llu failed accept() calls in %.1f s)",
                 c->fails, (double)(now_ms() - c->fail_since_ms) / 1000.0);
        c->fail_since_ms = 0;
        c->fails = c->fails_unlogged = 0;
    }
    c->delay_ms = 0;
}

/* ---- per-connection state ---- */

struct conn *conns_lookup(struct http_conns *c, struct evhttp_connection *evcon)
{
    if (!c || !evcon) return NULL;
    if (c->last && c->last->evcon == evcon) return c->last;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0 || (size_t)fd >= c->by_fd_cap) return NULL;
    struct conn *k = c->by_fd[fd];
    if (!k || k->evcon != evcon) return NULL;
    c->last = k;
    return k;
}

static int table_put(struct http_conns *c, struct conn *k)
{
    if ((size_t)k->fd >= c->by_fd_cap) {
        size_t cap = c->by_fd_cap ? c->by_fd_cap : 256;
        while (cap <= (size_t)k->fd)
            cap *= 2;
        struct conn **t = realloc(c->by_fd, cap * sizeof *t);
        if (!t) return -1;
        memset(t + c->by_fd_cap, 0, (cap - c->by_fd_cap) * sizeof *t);
        c->by_fd = t;
        c->by_fd_cap = cap;
    }
    c->by_fd[k->fd] = k;
    return 0;
}

/* Drop k's bookkeeping (the connection itself is evhttp's to free). */
static void forget(struct http_conns *c, struct conn *k)
{
    if (c->last == k) c->last = NULL;
    if (k->fd >= 0 && (size_t)k->fd < c->by_fd_cap && c->by_fd[k->fd] == k) c->by_fd[k->fd] = NULL;
    if (k->in_cb) evbuffer_remove_cb_entry(bufferevent_get_input(k->bev), k->in_cb);
    if (k->out_cb) evbuffer_remove_cb_entry(bufferevent_get_output(k->bev), k->out_cb);
    if (k->deadline) event_free(k->deadline);
    if (k->rewrite) event_free(k->rewrite);
    if (k->flush) event_free(k->flush);
    free(k);
    c->open--;
    update_listeners(c);
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct conn *k = arg;
    if (k->user_cb) k->user_cb(evcon, k->user_arg);
    forget(k->owner, k);
}

/* A cheap clock for the per-request bookkeeping (a vDSO read, no system call). */
static int64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A request starts being read. The timer is not added and deleted per request (a heap
 * operation each): it stays pending and on_deadline checks the request it finds. */
static void reading_started(struct conn *k)
{
    k->reading_since_ms = coarse_ms();
    /* Until this request is read, its bytes are none of on_input's business (evhttp drains
     * the input line by line, and each drain would call it). */
    if (k->in_cb)
        evbuffer_cb_clear_flags(bufferevent_get_input(k->bev), k->in_cb, EVBUFFER_CB_ENABLED);
    if (k->timer_pending || !k->deadline) return;
    struct timeval tv = ms_tv(k->owner->core->cfg->header_timeout_ms);
    if (event_add(k->deadline, &tv) == 0) k->timer_pending = 1;
}

/* The request being read (if any) is overdue: a 408 if nothing else is being written, then
 * close. Otherwise wait for the current request's own deadline. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct conn *k = arg;
    k->timer_pending = 0;
    if (!k->evcon || !k->reading_since_ms) return; /* between requests: idle_timeout's job */
    int64_t left = k->reading_since_ms + k->owner->core->cfg->header_timeout_ms - coarse_ms();
    if (left > 0) {
        struct timeval tv = ms_tv(left);
        if (event_add(k->deadline, &tv) == 0) k->timer_pending = 1;
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(k->bev)) == 0)
        (void)send(k->fd, k->owner->reply_408, k->owner->reply_408_len,
                   MSG_DONTWAIT | MSG_NOSIGNAL);
    evhttp_connection_free(k->evcon); /* runs conn_closed, which frees k */
}

/* Bytes of a new request arrived: its deadline starts now (it stops when it is read). */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct conn *k = arg;
    if (info->n_added && !k->reading_since_ms) reading_started(k);
}

/* A complete response that closes the connection; its length (0 if it did not fit). */
static size_t canned(char *buf, size_t size, const char *status, const char *body)
{
    int n = snprintf(buf, size,
                     "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     status, strlen(body), body);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* The 503 names the limit; a reload (SIGHUP) may have changed it. */
static void make_reply_503(struct http_conns *c)
{
    char body[256];
    c->reply_503_max = c->core->cfg->max_connections;
    snprintf(body, sizeof body,
             "{\"error\":\"cpd has limits.max_connections (%u) open; retry later\","
             "\"code\":\"too_many_connections\"}",
             c->reply_503_max);
    c->reply_503_len = canned(c->reply_503, sizeof c->reply_503,
                              "503 Service Unavailable\r\nRetry-After: 1", body);
}

/* evhttp gives each new connection its server-wide timeout: keep it at the configured idle
 * timeout (which a reload may change; open connections keep theirs). */
static void sync_idle_timeout(struct http_conns *c)
{
    if (c->idle_timeout_ms == c->core->cfg->idle_timeout_ms) return;
    c->idle_timeout_ms = c->core->cfg->idle_timeout_ms;
    struct timeval idle = ms_tv(c->idle_timeout_ms);
    evhttp_set_timeout_tv(c->http, &idle);
}

/* ---- accepting ---- */

static struct bufferevent *on_new_bufferevent(struct event_base *base, void *arg)
{
    struct http_conns *c = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) return NULL; /* evhttp makes one itself; that connection goes uncounted */
    accept_succeeded(c);
    sync_idle_timeout(c); /* evhttp applies it to this connection after this returns */
    struct conn *k = xcalloc(1, sizeof *k);
    k->owner = c;
    k->bev = bev;
    k->fd = -1;
    k->deadline = xevent_new(base, -1, 0, on_deadline, k);
    /* Our reference keeps the bufferevent readable even if evhttp gives the connection up
     * before adopt() runs. */
    bufferevent_incref(bev);
    k->next_pending = c->pending;
    c->pending = k;
    c->open++;
    event_active(c->adopt_ev, EV_TIMEOUT, 0);
    update_listeners(c);
    return bev;
}

/* evhttp has wrapped k's bufferevent in a connection (its callbacks' argument). */
static void adopt(struct http_conns *c, struct conn *k)
{
    struct bufferevent *bev = k->bev;
    bufferevent_event_cb evcb = NULL;
    void *evcon = NULL;
    bufferevent_getcb(bev, NULL, NULL, &evcb, &evcon);
    if (!evcb || !evcon) { /* freed already (bufferevent_free clears the callbacks) */
        forget(c, k);
        bufferevent_decref(bev);
        return;
    }
    k->evcon = evcon;
    k->fd = bufferevent_getfd(bev);
    /* Replies go out whole (a reply's last segment must not wait for the client's delayed ACK
     * of the one before: 40 ms on a kept-alive connection). Fails harmlessly on a Unix socket. */
    int one = 1;
    if (k->fd >= 0) (void)setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    evhttp_connection_set_closecb(k->evcon, conn_closed, k);
    if (k->fd < 0 || table_put(c, k) < 0) {
        bufferevent_decref(bev);
        evhttp_connection_free(k->evcon); /* out of memory: better closed than untracked */
        return;
    }
    k->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), conns_on_output, k);
    k->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, k);
    reading_started(k);      /* the first request must come within header_timeout too */
    bufferevent_decref(bev); /* evhttp keeps its own */
}

static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct http_conns *c = arg;
    while (c->pending) {
        struct conn *k = c->pending;
        c->pending = k->next_pending;
        adopt(c, k);
    }
}

/* Beyond max_connections: the canned 503, then close. Costs one accept, send and close. */
static void on_refuse(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)lev, (void)sa, (void)salen;
    struct http_conns *c = arg;
    char scratch[1024];
    accept_succeeded(c);
    if (c->reply_503_max != c->core->cfg->max_connections) make_reply_503(c);
    (void)send(fd, c->reply_503, c->reply_503_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    /* Reading what already arrived lets the close be a FIN, not a reset that could discard
     * the 503 before the client reads it. */
    (void)recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
    evutil_closesocket(fd);
    c->refused_unlogged++;
    int64_t now = now_ms();
    if (now - c->refuse_logged_ms >= LOG_EVERY_MS) {
        log_warn("http: refused %llu connection(s) with 503: limits.max_connections (%u) are "
                 "open",
                 c->refused_unlogged, c->core->cfg->max_connections);
        c->refuse_logged_ms = now;
        c->refused_unlogged = 0;
    }
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct http_conns *c = arg;
    c->paused = 0;
    update_listeners(c);
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS...): libevent would log every failure and retry at
 * once, spinning on the ready socket. Pause accepting instead, longer while it lasts; open
 * connections are served meanwhile and free descriptors as they end. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct http_conns *c = registered;
    while (c && c->lev != lev && c->refuser != lev)
        c = c->next_registered;
    if (!c) return;
    int64_t now = now_ms();
    c->fails++;
    c->fails_unlogged++;
    c->delay_ms = c->delay_ms ? c->delay_ms * 2 : RESUME_FIRST_MS;
    if (c->delay_ms > RESUME_MAX_MS) c->delay_ms = RESUME_MAX_MS;
    if (!c->fail_since_ms || now - c->fail_logged_ms >= LOG_EVERY_MS) {
        struct rlimit rl = {0, 0};
        getrlimit(RLIMIT_NOFILE, &rl);
        log_warn("http: accept() failed %llu time(s)%s: %s (open connections %zu, file "
                 "descriptor limit %llu); not accepting for %lld ms at a time until it works",
                 c->fails_unlogged, c->fail_since_ms ? " in the last 10 s" : "", strerror(err),
                 c->open, (unsigned long long)rl.rlim_cur, (long long)c->delay_ms);
        c->fail_logged_ms = now;
        c->fails_unlogged = 0;
    }
    if (!c->fail_since_ms) c->fail_since_ms = now;
    c->paused = 1;
    update_listeners(c);
    struct timeval tv = ms_tv(c->delay_ms);
    event_add(c->resume_ev, &tv);
}

/* Raise the soft descriptor limit toward what max_connections needs (as Redis does for
 * maxclients); say so when the hard limit is lower. */
static void fit_fd_limit(const struct cp_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t need = (rlim_t)cfg->max_connections + FD_RESERVE;
    if (rl.rlim_cur >= need) return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (want > rl.rlim_cur) {
        struct rlimit up = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl.rlim_cur = want;
    }
    if (rl.rlim_cur < need)
        log_warn("http: limits.max_connections is %u but this process may open only %llu "
                 "files (ulimit -n); when they run out, cpd pauses accepting and says so",
                 cfg->max_connections, (unsigned long long)rl.rlim_cur);
}

struct http_conns *conns_new(struct cp_core *core, struct evhttp *http)
{
    struct http_conns *c = xcalloc(1, sizeof *c);
    c->core = core;
    c->http = http;
    c->adopt_ev = xevent_new(core->base, -1, 0, on_adopt, c);
    c->resume_ev = xevent_new(core->base, -1, 0, on_resume, c);
    make_reply_503(c);
    c->reply_408_len = canned(c->reply_408, sizeof c->reply_408, "408 Request Timeout",
                              "{\"error\":\"the request did not arrive in time "
                              "(limits.header_timeout_seconds)\",\"code\":\"request_timeout\"}");
    evhttp_set_bevcb(http, on_new_bufferevent, c);
    sync_idle_timeout(c);
    c->next_registered = registered;
    registered = c;
    return c;
}

int conns_attach_listener(struct http_conns *c, struct evconnlistener *lev)
{
    c->lev = lev;
    c->lev_on = 1;
    evconnlistener_set_error_cb(lev, on_accept_error);
    /* The same socket, its own accept callback; enabled only while evhttp's is full. */
    c->refuser =
        evconnlistener_new(c->core->base, on_refuse, c, LEV_OPT_DISABLED | LEV_OPT_CLOSE_ON_EXEC, 0,
                           evconnlistener_get_fd(lev));
    if (!c->refuser) return -1;
    evconnlistener_set_error_cb(c->refuser, on_accept_error);
    fit_fd_limit(c->core->cfg);
    update_listeners(c);
    return 0;
}

void conns_stop(struct http_conns *c)
{
    if (!c) return;
    if (c->refuser) evconnlistener_free(c->refuser);
    c->refuser = NULL;
    c->lev = NULL; /* evhttp frees it */
    if (c->resume_ev) event_del(c->resume_ev);
}

void conns_free(struct http_conns *c)
{
    if (!c) return;
    conns_stop(c);
    on_adopt(-1, 0, c); /* anything evhttp_free left: its connections are gone */
    for (struct http_conns **p = &registered; *p; p = &(*p)->next_registered)
        if (*p == c) {
            *p = c->next_registered;
            break;
        }
    if (c->adopt_ev) event_free(c->adopt_ev);
    if (c->resume_ev) event_free(c->resume_ev);
    free(c->by_fd);
    free(c);
}

void conns_set_closecb(struct http_conns *c, struct evhttp_connection *evcon,
                       void (*cb)(struct evhttp_connection *, void *), void *arg)
{
    struct conn *k = conns_lookup(c, evcon);
    if (!k) {
        if (evcon) evhttp_connection_set_closecb(evcon, cb, arg);
        return;
    }
    k->user_cb = cb;
    k->user_arg = arg;
}

void conns_request_read(struct http_conns *c, struct evhttp_connection *evcon)
{
    struct conn *k = conns_lookup(c, evcon);
    if (!k) return;
    k->reading_since_ms = 0;
    if (k->in_cb)
        evbuffer_cb_set_flags(bufferevent_get_input(k->bev), k->in_cb, EVBUFFER_CB_ENABLED);
}
