/* probe_host.c — one check of a probe plugin, run by the host (see probe_host.h).
 *
 * Each run owns one timer: first the deadline, then — re-armed at 0 ms once the probe called
 * done() — the delivery. Delivery happens on that timer's callback only, so the outcome never
 * reaches the monitor inside start() or inside a libevent callback of the probe, and release()
 * (which may free the probe's evhttp connection or bufferevent) never runs inside one either.
 * Ownership: the run is the host's; the handle is the plugin's until release() returns. */
#include "probe_host.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <cp/time.h>

struct probe_run {
    const struct cp_probe_ops *ops;
    void *state;
    void *handle;
    struct event *timer; /* the deadline, then the delivery */
    probe_result_fn fn;
    void *arg;
    uint64_t timeout_ms;
    int64_t t0_us;
    int starting;    /* inside start(): an outcome is only recorded */
    int have_result; /* done() came: the first one counts */
    int ok;
    double latency_ms;
    char error[256];
};

static void run_free(struct probe_run *r)
{
    if (r->timer) event_free(r->timer);
    free(r);
}

static double elapsed_ms(const struct probe_run *r)
{
    return (double)(cp_monotonic_us() - r->t0_us) / 1000.0;
}

static void arm(struct probe_run *r, int64_t ms)
{
    struct timeval tv = cp_ms_to_timeval(ms);
    event_add(r->timer, &tv); /* re-adding replaces the pending deadline */
}

/* The plugin's done(): records the first outcome; delivery waits for the timer. */
static void on_done(void *cookie, int ok, double latency_ms, const char *error)
{
    struct probe_run *r = cookie;
    if (r->have_result) return;
    r->have_result = 1;
    r->ok = ok != 0;
    r->latency_ms = latency_ms >= 0 && isfinite(latency_ms) ? latency_ms : elapsed_ms(r);
    snprintf(r->error, sizeof r->error, "%s", !r->ok && error ? error : "");
    if (!r->starting) arm(r, 0);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct probe_run *r = arg;
    if (!r->have_result) {
        r->ok = 0;
        r->latency_ms = elapsed_ms(r);
        snprintf(r->error, sizeof r->error, "timed out after %llu ms",
                 (unsigned long long)r->timeout_ms);
    }
    r->ops->release(r->state, r->handle);
    /* fn may start the next check or free its caller: the run is gone before it runs. */
    probe_result_fn fn = r->fn;
    void *fn_arg = r->arg;
    int ok = r->ok;
    double latency = r->latency_ms;
    char error[sizeof r->error];
    memcpy(error, r->error, sizeof error);
    run_free(r);
    fn(fn_arg, ok, latency, ok || !error[0] ? NULL : error);
}

struct probe_run *probe_run_start(struct event_base *base, const struct cp_probe_ops *ops,
                                  void *state, const struct cp_probe_spec *spec, probe_result_fn fn,
                                  void *arg, char *err, size_t errlen)
{
    struct probe_run *r = calloc(1, sizeof *r);
    if (r) r->timer = base ? evtimer_new(base, on_timer, r) : NULL;
    if (!r || !r->timer) {
        snprintf(err, errlen, base ? "out of memory" : "no event loop to run probes on");
        if (r) run_free(r);
        return NULL;
    }
    r->ops = ops;
    r->state = state;
    r->fn = fn;
    r->arg = arg;
    r->timeout_ms = spec->timeout_ms ? spec->timeout_ms : PROBE_DEFAULT_TIMEOUT_MS;
    r->t0_us = cp_monotonic_us();
    struct cp_err cerr;
    memset(&cerr, 0, sizeof cerr);
    r->starting = 1;
    int rc = ops->start(state, spec, on_done, r, &r->handle, &cerr);
    r->starting = 0;
    if (rc != 0) { /* nothing was begun: no release(), and a done() it made is dropped */
        cerr.msg[sizeof cerr.msg - 1] = '\0';
        snprintf(err, errlen, "%s", cerr.msg[0] ? cerr.msg : "the probe could not start");
        run_free(r);
        return NULL;
    }
    arm(r, r->have_result ? 0 : (int64_t)r->timeout_ms);
    return r;
}

void probe_run_cancel(struct probe_run *r)
{
    if (!r) return;
    r->ops->release(r->state, r->handle);
    run_free(r);
}
