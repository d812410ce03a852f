/* scen_claim.c — the cost of a claim against what is pending: -c agents loop claim (block_ms 0)
 * -> complete when a task came back, -> claim again when none did. With a filled queue every
 * claim finds work (claim_hit); on an empty queue it measures the "nothing for you" path
 * (claim_empty). Throughput is claims answered per second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "scenarios.h"

struct cl {
    struct run *run;
    struct pool *agents;
    char (*task_ids)[64];
    int h_hit, h_empty, h_complete;
    int c_hits, c_empty;
};

static void claim(struct cl *l, struct conn *c);

static void on_completed(struct conn *c, int status, const char *body, size_t len, int64_t lat)
{
    struct cl *l = c->user;
    struct run *r = l->run;
    if (r->stopping) return;
    complete_answer(r, l->h_complete, status, body, len, lat);
    if (!r->stopping) claim(l, c);
}

static void on_claimed(struct conn *c, int status, const char *body, size_t len, int64_t lat)
{
    struct cl *l = c->user;
    struct run *r = l->run;
    if (r->stopping) return;
    int64_t sent;
    char *id = l->task_ids[c->index];
    int got = claim_answer(r, status, body, len, id, sizeof l->task_ids[0], &sent);
    if (got < 0) {
        if (!r->stopping) claim(l, c);
        return;
    }
    int measuring = run_measuring(r, now_us());
    run_record(r, got ? l->h_hit : l->h_empty, lat);
    if (measuring) r->counters[got ? l->c_hits : l->c_empty]++;
    run_op(r);
    if (r->stopping) return;
    if (!got) {
        claim(l, c);
        return;
    }
    complete_send(r, c, id, on_completed);
}

static void claim(struct cl *l, struct conn *c)
{
    claim_send(l->run, c, 0, on_claimed);
}

int scenario_claim(struct run *r)
{
    const struct args *a = r->a;
    struct cl l = {.run = r};
    l.h_hit = run_hist(r, "claim_hit");
    l.h_empty = run_hist(r, "claim_empty");
    l.h_complete = run_hist(r, "complete");
    l.c_hits = run_counter(r, "hits");
    l.c_empty = run_counter(r, "empty");
    l.agents = pool_new(r->base, a->host, a->port, a->connections, 30, a->token);
    l.task_ids = calloc((size_t)a->connections, sizeof *l.task_ids);
    int rc = 0;
    if (!l.agents || !l.task_ids) {
        fprintf(stderr, "cp-bench: cannot create the connections\n");
        rc = -1;
        goto out;
    }
    run_start(r);
    for (int i = 0; i < l.agents->n; i++) {
        struct conn *c = &l.agents->conns[i];
        c->user = &l;
        c->seq = (uint64_t)i;
        claim(&l, c);
    }
    event_base_dispatch(r->base);
out:
    pool_free(l.agents);
    free(l.task_ids);
    return rc;
}
