/* run.h — one measured run: the event loop, its time window, the counters and histograms the
 * scenario fills, and the rules for stopping (duration, count, or a fatal error). */
#ifndef CPB_RUN_H
#define CPB_RUN_H

#include <stdint.h>

#include "args.h"
#include "client.h"
#include "hist.h"

#define RUN_MAX_HISTS 6
#define RUN_MAX_COUNTERS 8

struct run {
    struct event_base *base;
    const struct args *a;
    int64_t t_begin;   /* warm-up starts */
    int64_t t_measure; /* measuring starts (t_begin + warm-up) */
    int64_t t_end;     /* measuring ends */
    int64_t t_stopped; /* when the run actually stopped (count bound or error may end it early) */
    int stopping;
    int failed;           /* a fatal error: the run's figures are not valid */
    uint64_t ops;         /* primary operations completed while measuring */
    const char *ops_unit; /* "tasks/s", "req/s" ... */
    uint64_t errors;      /* non-2xx answers and failed connections while measuring */
    uint64_t all_errors;
    char first_error[256];

    int n_hists;
    const char *hist_names[RUN_MAX_HISTS];
    struct hist hists[RUN_MAX_HISTS];
    int n_counters;
    const char *counter_names[RUN_MAX_COUNTERS];
    uint64_t counters[RUN_MAX_COUNTERS];

    struct event *end_timer;
    void (*on_stop)(struct run *r, void *arg); /* the scenario stops its own sources */
    void *on_stop_arg;
};

void run_init(struct run *r, struct event_base *base, const struct args *a, const char *ops_unit);
void run_cleanup(struct run *r);
/* Register a histogram / counter; returns its index. */
int run_hist(struct run *r, const char *name);
int run_counter(struct run *r, const char *name);
/* Start the clock: warm-up, then the measured window; the timer stops the loop at its end. */
void run_start(struct run *r);
/* Whether a completion at `t` counts (inside the measured window). */
static inline int run_measuring(const struct run *r, int64_t t)
{
    return t >= r->t_measure && t < r->t_end && !r->stopping;
}
/* Record latency into histogram `h` when measuring. */
void run_record(struct run *r, int h, int64_t latency_us);
/* One primary operation finished now; stops the run when -n is reached. */
void run_op(struct run *r);
/* Count an error (status 0 = connection failure). `fatal` stops the run. */
void run_error(struct run *r, const char *what, int status, const char *body, size_t len,
               int fatal);
/* Stop now: sources stop, the loop exits. */
void run_stop(struct run *r);
/* Measured seconds (the window, or less when the run stopped early). */
double run_seconds(const struct run *r);

/* Print the run as a table, or as one JSON object. `extra` adds lines/fields (may be NULL). */
void report_print(const struct run *r, int json, const char *extra_text, const char *extra_json);

#endif
