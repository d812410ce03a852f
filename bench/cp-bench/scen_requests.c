/* scen_requests.c — closed-loop single-request scenarios: heartbeat (POST
 * /agents/:id/heartbeat), read (GET /agents/:id), select (GET /agents/select) and raw (any fixed
 * request, to calibrate cp-bench against wrk on the same server). Each connection sends its next
 * request as soon as the previous one is answered; agents are picked at random. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bodies.h"
#include "scenarios.h"

struct loop {
    struct run *run;
    struct pool *pool;
    int h;
    const char *what;
    enum evhttp_cmd_type method;
};

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void on_done(struct conn *c, int status, const char *body, size_t len, int64_t lat);

static void send_next(struct loop *l, struct conn *c)
{
    const struct args *a = l->run->a;
    char path[512];
    const char *body = NULL;
    size_t blen = 0;
    uint64_t agent = xorshift(&c->seq) % a->agents;
    switch (a->scenario) {
    case SC_HEARTBEAT:
        snprintf(path, sizeof path, API "/agents/%s-%llu/heartbeat", a->prefix,
                 (unsigned long long)agent);
        body = "{}", blen = 2;
        break;
    case SC_READ:
        snprintf(path, sizeof path, API "/agents/%s-%llu", a->prefix, (unsigned long long)agent);
        break;
    case SC_SELECT:
        snprintf(path, sizeof path, API "/agents/select?capability=%s", a->capability);
        break;
    default: /* SC_RAW */
        snprintf(path, sizeof path, "%s", a->path);
        if (a->body)
            body = a->body, blen = strlen(a->body);
        else if (l->method == EVHTTP_REQ_POST)
            body = "{}", blen = 2;
        break;
    }
    if (conn_request(c, l->method, path, body, blen, on_done) != 0)
        run_error(l->run, l->what, 0, "", 0, 1);
}

static void on_done(struct conn *c, int status, const char *body, size_t len, int64_t lat)
{
    struct loop *l = c->user;
    struct run *r = l->run;
    if (r->stopping) return;
    if (status >= 200 && status < 300) {
        run_record(r, l->h, lat);
        run_op(r);
    } else {
        run_error(r, l->what, status, body, len, status == 0);
    }
    if (!r->stopping) send_next(l, c);
}

int scenario_requests(struct run *r)
{
    const struct args *a = r->a;
    struct loop l = {.run = r};
    switch (a->scenario) {
    case SC_HEARTBEAT:
        l.what = "heartbeat", l.method = EVHTTP_REQ_POST;
        break;
    case SC_READ:
        l.what = "read", l.method = EVHTTP_REQ_GET;
        break;
    case SC_SELECT:
        l.what = "select", l.method = EVHTTP_REQ_GET;
        break;
    default:
        l.what = "raw";
        l.method = strcmp(a->method, "POST") == 0 ? EVHTTP_REQ_POST : EVHTTP_REQ_GET;
    }
    l.h = run_hist(r, l.what);
    l.pool = pool_new(r->base, a->host, a->port, a->connections, 30, a->token);
    if (!l.pool) {
        fprintf(stderr, "cp-bench: cannot create %d connections\n", a->connections);
        return -1;
    }
    run_start(r);
    for (int i = 0; i < l.pool->n; i++) {
        struct conn *c = &l.pool->conns[i];
        c->user = &l;
        c->seq = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
        send_next(&l, c);
    }
    event_base_dispatch(r->base);
    pool_free(l.pool);
    return 0;
}
