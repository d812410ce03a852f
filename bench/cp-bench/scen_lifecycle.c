/* scen_lifecycle.c — the full task lifecycle under load: -m submitters POST /tasks (at most
 * --backlog tasks submitted but not yet completed), -c agents each loop long-poll claim ->
 * complete. With --next each complete also claims the agent's next task (held like a claim):
 * an agent claims on its own only when a completion brought none — two requests per task
 * instead of three. Throughput is completed lifecycles per second; latencies are per request
 * kind plus end to end (submit sent -> complete acknowledged, from the stamp in the payload);
 * counters: claims that came back empty, and (--next) tasks that came with a completion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bodies.h"
#include "claims.h"
#include "scenarios.h"

struct agent {
    char task_id[64];
    int64_t sent_us; /* the task's submit stamp */
};

struct lc {
    struct run *run;
    struct pool *agents, *subs;
    struct agent *ag;
    char *sub_bodies;
    size_t sub_cap;
    uint64_t outstanding; /* submit requests sent and tasks not yet completed */
    int *parked;          /* submitter conn indexes waiting for room in the backlog */
    int n_parked;
    int h_submit, h_claim, h_complete, h_e2e;
    int c_empty, c_submitted, c_next;
};

static void agent_claim(struct lc *l, struct conn *c);
static void submit_next(struct lc *l, struct conn *c);

static void on_submitted(struct conn *c, int status, const char *body, size_t len, int64_t lat)
{
    struct lc *l = c->user;
    struct run *r = l->run;
    if (r->stopping) return;
    if (status == 201) {
        run_record(r, l->h_submit, lat);
        if (run_measuring(r, now_us())) r->counters[l->c_submitted]++;
    } else {
        l->outstanding--;
        run_error(r, "submit", status, body, len, status == 0 || status == 404);
        if (r->stopping) return;
    }
    submit_next(l, c);
}

static void submit_next(struct lc *l, struct conn *c)
{
    if (l->outstanding >= l->run->a->backlog) {
        l->parked[l->n_parked++] = c->index;
        return;
    }
    char *body = l->sub_bodies + (size_t)c->index * l->sub_cap;
    size_t len = task_body(l->run->a, now_us(), body, l->sub_cap);
    l->outstanding++;
    if (conn_request(c, EVHTTP_REQ_POST, API "/tasks", body, len, on_submitted) != 0)
        run_error(l->run, "submit", 0, "", 0, 1);
}

static void unpark_one(struct lc *l)
{
    if (l->n_parked == 0 || l->outstanding >= l->run->a->backlog) return;
    struct conn *c = &l->subs->conns[l->parked[--l->n_parked]];
    submit_next(l, c);
}

static void on_completed(struct conn *c, int status, const char *body, size_t len, int64_t lat)
{
    struct lc *l = c->user;
    struct run *r = l->run;
    if (r->stopping) return;
    struct agent *ag = &l->ag[c->index];
    l->outstanding--;
    complete_answer(r, l->h_complete, status, body, len, lat);
    if (status == 200) {
        if (ag->sent_us > 0) run_record(r, l->h_e2e, now_us() - ag->sent_us);
        run_op(r);
    }
    if (r->stopping) return;
    unpark_one(l);
    if (status == 200 && r->a->next) {
        int got = task_reply(body, len, "next", ag->task_id, sizeof ag->task_id, &ag->sent_us);
        if (got > 0) { /* the next task came with the completion */
            if (run_measuring(r, now_us())) r->counters[l->c_next]++;
            complete_send(r, c, ag->task_id, on_completed);
            return;
        }
        if (got == 0 && run_measuring(r, now_us())) r->counters[l->c_empty]++;
    }
    agent_claim(l, c);
}

static void on_claimed(struct conn *c, int status, const char *body, size_t len, int64_t lat)
{
    struct lc *l = c->user;
    struct run *r = l->run;
    if (r->stopping) return;
    struct agent *ag = &l->ag[c->index];
    int got = claim_answer(r, status, body, len, ag->task_id, sizeof ag->task_id, &ag->sent_us);
    if (got < 0) {
        if (!r->stopping) agent_claim(l, c);
        return;
    }
    if (got == 0) {
        if (run_measuring(r, now_us())) r->counters[l->c_empty]++;
        agent_claim(l, c);
        return;
    }
    run_record(r, l->h_claim, lat);
    complete_send(r, c, ag->task_id, on_completed);
}

static void agent_claim(struct lc *l, struct conn *c)
{
    claim_send(l->run, c, l->run->a->block_ms, on_claimed);
}

int scenario_lifecycle(struct run *r)
{
    const struct args *a = r->a;
    struct lc l = {.run = r};
    l.h_submit = run_hist(r, "submit");
    l.h_claim = run_hist(r, "claim");
    l.h_complete = run_hist(r, "complete");
    l.h_e2e = run_hist(r, "end_to_end");
    l.c_empty = run_counter(r, "empty_claims");
    l.c_submitted = run_counter(r, "submitted");
    if (a->next) l.c_next = run_counter(r, "next_with_complete");
    int timeout = (int)(a->block_ms / 1000) + 10;
    l.agents = pool_new(r->base, a->host, a->port, a->connections, timeout, a->token);
    l.subs = pool_new(r->base, a->host, a->port, a->submitters, 30, a->token);
    l.ag = calloc((size_t)a->connections, sizeof *l.ag);
    l.parked = calloc((size_t)a->submitters, sizeof *l.parked);
    l.sub_cap = BODY_SLACK + a->payload_bytes;
    l.sub_bodies = malloc(l.sub_cap * (size_t)a->submitters);
    int rc = 0;
    if (!l.agents || !l.subs || !l.ag || !l.parked || !l.sub_bodies) {
        fprintf(stderr, "cp-bench: cannot create the connections\n");
        rc = -1;
        goto out;
    }
    run_start(r);
    for (int i = 0; i < l.agents->n; i++) {
        struct conn *c = &l.agents->conns[i];
        c->user = &l;
        c->seq = (uint64_t)i; /* this conn is agent <prefix>-i */
        agent_claim(&l, c);
    }
    for (int i = 0; i < l.subs->n; i++) {
        l.subs->conns[i].user = &l;
        submit_next(&l, &l.subs->conns[i]);
    }
    event_base_dispatch(r->base);
out:
    pool_free(l.agents);
    pool_free(l.subs);
    free(l.ag);
    free(l.parked);
    free(l.sub_bodies);
    return rc;
}
