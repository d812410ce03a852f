/* bulk.c — many independent POSTs over a pool, each conn taking the next index when its
 * previous request is answered. Used for set-up (not measured) and by the fill scenario. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bodies.h"
#include "bulk.h"

#define MAX_FAILURES 100

struct bulk {
    struct event_base *base;
    const struct args *a;
    bulk_make_fn make;
    uint64_t n, next, done;
    int64_t deadline;
    int stop;
    size_t cap;
    char *bodies; /* one buffer of `cap` bytes per conn */
    struct bulk_result *res;
    struct event *timer;
};

static void bulk_send(struct bulk *b, struct conn *c);

static void fail_once(struct bulk *b, const char *fmt, int status, const char *body, size_t len)
{
    if (!b->res->first_error[0])
        snprintf(b->res->first_error, sizeof b->res->first_error, fmt, status,
                 (int)(len > 180 ? 180 : len), body);
}

static void on_done(struct conn *c, int status, const char *body, size_t len, int64_t lat)
{
    (void)lat;
    struct bulk *b = c->user;
    b->done++;
    if (status >= 200 && status < 300) {
        b->res->ok++;
    } else {
        b->res->failed++;
        if (status == 0) {
            fail_once(b, "connection failed or closed (status %d)%.*s", status, "", 0);
            b->stop = 1;
        } else {
            fail_once(b, "HTTP %d %.*s", status, body, len);
            if (b->res->failed >= MAX_FAILURES) b->stop = 1;
        }
    }
    if (b->stop || b->done == b->n || now_us() >= b->deadline) {
        b->stop = 1;
        event_base_loopbreak(b->base);
        return;
    }
    bulk_send(b, c);
}

static void bulk_send(struct bulk *b, struct conn *c)
{
    if (b->stop || b->next >= b->n) return;
    uint64_t i = b->next++;
    char path[256];
    char *body = b->bodies + (size_t)c->index * b->cap;
    size_t len = b->make(b->a, i, path, sizeof path, body, b->cap);
    if (conn_request(c, EVHTTP_REQ_POST, path, body, len, on_done) != 0) {
        fail_once(b, "cannot send a request (status %d)%.*s", 0, "", 0);
        b->stop = 1;
        event_base_loopbreak(b->base);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct bulk *b = arg;
    b->stop = 1;
    fail_once(b, "time cap reached (status %d)%.*s", 0, "", 0);
    event_base_loopbreak(b->base);
}

int bulk_post(struct event_base *base, const struct args *a, int conns, uint64_t n,
              bulk_make_fn make, double max_seconds, struct bulk_result *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) return 0;
    if ((uint64_t)conns > n) conns = (int)n;
    struct bulk b = {.base = base, .a = a, .make = make, .n = n, .res = out};
    b.cap = (BODY_SLACK + a->payload_bytes) * (size_t)(a->batch ? a->batch : 1) + 64;
    b.bodies = malloc(b.cap * (size_t)conns);
    struct pool *p = pool_new(base, a->host, a->port, conns, 30, a->token);
    if (!b.bodies || !p) {
        snprintf(out->first_error, sizeof out->first_error, "out of memory");
        free(b.bodies);
        pool_free(p);
        return -1;
    }
    int64_t t0 = now_us();
    b.deadline = t0 + (int64_t)(max_seconds * 1e6);
    b.timer = evtimer_new(base, on_deadline, &b);
    struct timeval tv = {(time_t)max_seconds,
                         (suseconds_t)((max_seconds - (double)(time_t)max_seconds) * 1e6)};
    evtimer_add(b.timer, &tv);
    for (int i = 0; i < conns; i++) {
        p->conns[i].user = &b;
        bulk_send(&b, &p->conns[i]);
    }
    if (!b.stop) event_base_dispatch(base);
    out->seconds = (double)(now_us() - t0) / 1e6;
    event_free(b.timer);
    pool_free(p);
    free(b.bodies);
    return out->ok == n ? 0 : -1;
}

size_t bulk_make_agent(const struct args *a, uint64_t i, char *path, size_t pathcap, char *body,
                       size_t cap)
{
    snprintf(path, pathcap, API "/agents");
    return agent_body(a, i, body, cap);
}

size_t bulk_make_task(const struct args *a, uint64_t i, char *path, size_t pathcap, char *body,
                      size_t cap)
{
    (void)i;
    snprintf(path, pathcap, API "/tasks");
    return task_body(a, now_us(), body, cap);
}

size_t bulk_make_task_batch(const struct args *a, uint64_t i, char *path, size_t pathcap,
                            char *body, size_t cap)
{
    snprintf(path, pathcap, API "/tasks/batch");
    uint64_t first = i * a->batch, n = a->tasks - first < a->batch ? a->tasks - first : a->batch;
    size_t len = (size_t)snprintf(body, cap, "{\"tasks\":[");
    int64_t now = now_us();
    for (uint64_t k = 0; k < n; k++) {
        if (k) body[len++] = ',';
        len += task_body(a, now, body + len, cap - len - 3);
    }
    memcpy(body + len, "]}", 3);
    return len + 2;
}

int bulk_register_agents(struct event_base *base, const struct args *a, struct bulk_result *out)
{
    int conns = a->connections < 64 ? a->connections : 64;
    return bulk_post(base, a, conns, a->agents, bulk_make_agent, 600, out);
}
