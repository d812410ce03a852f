/* scen_wakeup.c — how fast a held long-poll claim learns of new work: -c agents hold claims
 * (block_ms --block-ms); submitters send tasks at a fixed --rate; the latency is from the submit
 * being sent (the stamp in the payload) to the claimer receiving that task. A claimer completes
 * its task and claims again at once, so claims are held whenever the system keeps up. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bodies.h"
#include "claims.h"
#include "scenarios.h"

struct wk {
    struct run *run;
    struct pool *agents, *subs;
    char (*task_ids)[64];
    char *sub_bodies;
    size_t sub_cap;
    uint64_t sent;
    int next_sub;
    struct event *tick;
    int h_wake, h_submit, h_complete;
    int c_submitted, c_late, c_empty;
};

static void claim(struct wk *w, struct conn *c);

static void on_completed(struct conn *c, int status, const char *body, size_t len, int64_t lat)
{
    struct wk *w = c->user;
    struct run *r = w->run;
    if (r->stopping) return;
    complete_answer(r, w->h_complete, status, body, len, lat);
    if (!r->stopping) claim(w, c);
}

static void on_claimed(struct conn *c, int status, const char *body, size_t len, int64_t lat)
{
    (void)lat;
    struct wk *w = c->user;
    struct run *r = w->run;
    if (r->stopping) return;
    int64_t got_at = now_us(), sent_us;
    char *id = w->task_ids[c->index];
    int got = claim_answer(r, status, body, len, id, sizeof w->task_ids[0], &sent_us);
    if (got < 0) {
        if (!r->stopping) claim(w, c);
        return;
    }
    if (got == 0) {
        if (run_measuring(r, got_at)) r->counters[w->c_empty]++;
        claim(w, c);
        return;
    }
    if (sent_us > 0) run_record(r, w->h_wake, got_at - sent_us);
    run_op(r);
    if (r->stopping) return;
    complete_send(r, c, id, on_completed);
}

static void claim(struct wk *w, struct conn *c)
{
    claim_send(w->run, c, w->run->a->block_ms, on_claimed);
}

static void on_submitted(struct conn *c, int status, const char *body, size_t len, int64_t lat)
{
    struct wk *w = c->user;
    struct run *r = w->run;
    if (r->stopping) return;
    if (status == 201) {
        run_record(r, w->h_submit, lat);
        if (run_measuring(r, now_us())) r->counters[w->c_submitted]++;
    } else {
        run_error(r, "submit", status, body, len, status == 0);
    }
}

/* Send the submits that are due by now (rate x elapsed), each on an idle submitter; when all are
 * busy the rest wait for the next tick and count as late. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct wk *w = arg;
    struct run *r = w->run;
    if (r->stopping) return;
    int64_t now = now_us();
    uint64_t due = (uint64_t)floor(r->a->rate * (double)(now - r->t_begin) / 1e6);
    while (w->sent < due) {
        struct conn *c = NULL;
        for (int k = 0; k < w->subs->n && !c; k++) {
            struct conn *cand = &w->subs->conns[(w->next_sub + k) % w->subs->n];
            if (!cand->busy) c = cand;
        }
        if (!c) {
            if (run_measuring(r, now)) r->counters[w->c_late]++;
            break;
        }
        w->next_sub = (c->index + 1) % w->subs->n;
        char *body = w->sub_bodies + (size_t)c->index * w->sub_cap;
        size_t len = task_body(r->a, now_us(), body, w->sub_cap);
        w->sent++;
        if (conn_request(c, EVHTTP_REQ_POST, API "/tasks", body, len, on_submitted) != 0) {
            run_error(r, "submit", 0, "", 0, 1);
            return;
        }
    }
}

int scenario_wakeup(struct run *r)
{
    const struct args *a = r->a;
    struct wk w = {.run = r};
    w.h_wake = run_hist(r, "wakeup");
    w.h_submit = run_hist(r, "submit");
    w.h_complete = run_hist(r, "complete");
    w.c_submitted = run_counter(r, "submitted");
    w.c_late = run_counter(r, "late_ticks");
    w.c_empty = run_counter(r, "empty_claims");
    int timeout = (int)(a->block_ms / 1000) + 10;
    w.agents = pool_new(r->base, a->host, a->port, a->connections, timeout, a->token);
    w.subs = pool_new(r->base, a->host, a->port, a->submitters, 30, a->token);
    w.task_ids = calloc((size_t)a->connections, sizeof *w.task_ids);
    w.sub_cap = BODY_SLACK + a->payload_bytes;
    w.sub_bodies = malloc(w.sub_cap * (size_t)a->submitters);
    int rc = 0;
    if (!w.agents || !w.subs || !w.task_ids || !w.sub_bodies) {
        fprintf(stderr, "cp-bench: cannot create the connections\n");
        rc = -1;
        goto out;
    }
    /* A tick per millisecond at most; slower rates tick at their own period. */
    double period_us = 1e6 / a->rate;
    if (period_us < 1000) period_us = 1000;
    w.tick = event_new(r->base, -1, EV_PERSIST, on_tick, &w);
    struct timeval tv = {(time_t)(period_us / 1e6), (suseconds_t)fmod(period_us, 1e6)};
    run_start(r);
    for (int i = 0; i < w.agents->n; i++) {
        struct conn *c = &w.agents->conns[i];
        c->user = &w;
        c->seq = (uint64_t)i;
        claim(&w, c);
    }
    for (int i = 0; i < w.subs->n; i++)
        w.subs->conns[i].user = &w;
    event_add(w.tick, &tv);
    event_base_dispatch(r->base);
out:
    if (w.tick) event_free(w.tick);
    pool_free(w.agents);
    pool_free(w.subs);
    free(w.task_ids);
    free(w.sub_bodies);
    return rc;
}
