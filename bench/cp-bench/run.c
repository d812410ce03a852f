/* run.c — the run's clock and stop rules: a warm-up, a measured window, a count bound, and a
 * fatal error that ends the run early with its reason. */
#include <stdio.h>
#include <string.h>

#include "run.h"

void run_init(struct run *r, struct event_base *base, const struct args *a, const char *ops_unit)
{
    memset(r, 0, sizeof *r);
    r->base = base;
    r->a = a;
    r->ops_unit = ops_unit;
}

void run_cleanup(struct run *r)
{
    if (r->end_timer) event_free(r->end_timer);
    r->end_timer = NULL;
}

int run_hist(struct run *r, const char *name)
{
    if (r->n_hists == RUN_MAX_HISTS) return RUN_MAX_HISTS - 1;
    hist_init(&r->hists[r->n_hists]);
    r->hist_names[r->n_hists] = name;
    return r->n_hists++;
}

int run_counter(struct run *r, const char *name)
{
    if (r->n_counters == RUN_MAX_COUNTERS) return RUN_MAX_COUNTERS - 1;
    r->counter_names[r->n_counters] = name;
    r->counters[r->n_counters] = 0;
    return r->n_counters++;
}

static void on_end(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    run_stop(arg);
}

void run_start(struct run *r)
{
    r->t_begin = now_us();
    r->t_measure = r->t_begin + (int64_t)(r->a->warmup_s * 1e6);
    r->t_end = r->t_measure + (int64_t)(r->a->duration_s * 1e6);
    r->end_timer = evtimer_new(r->base, on_end, r);
    int64_t us = r->t_end - r->t_begin;
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    evtimer_add(r->end_timer, &tv);
}

void run_record(struct run *r, int h, int64_t latency_us)
{
    if (!run_measuring(r, now_us())) return;
    hist_record(&r->hists[h], latency_us < 0 ? 0 : (uint64_t)latency_us);
}

void run_op(struct run *r)
{
    if (!run_measuring(r, now_us())) return;
    r->ops++;
    if (r->a->max_ops && r->ops >= r->a->max_ops) run_stop(r);
}

void run_error(struct run *r, const char *what, int status, const char *body, size_t len, int fatal)
{
    r->all_errors++;
    if (run_measuring(r, now_us())) r->errors++;
    if (!r->first_error[0]) {
        if (status == 0)
            snprintf(r->first_error, sizeof r->first_error,
                     "%s: connection to %s:%d failed or was closed", what, r->a->host, r->a->port);
        else
            snprintf(r->first_error, sizeof r->first_error, "%s: HTTP %d %.*s", what, status,
                     (int)(len > 180 ? 180 : len), body);
    }
    if (fatal && !r->stopping) {
        r->failed = 1;
        run_stop(r);
    }
}

void run_stop(struct run *r)
{
    if (r->stopping) return;
    r->t_stopped = now_us();
    r->stopping = 1;
    if (r->on_stop) r->on_stop(r, r->on_stop_arg);
    /* Held long polls would keep the loop alive: leave now; main frees the connections. */
    event_base_loopbreak(r->base);
}

double run_seconds(const struct run *r)
{
    int64_t end = r->t_stopped && r->t_stopped < r->t_end ? r->t_stopped : r->t_end;
    double s = (double)(end - r->t_measure) / 1e6;
    return s > 0 ? s : 0;
}
