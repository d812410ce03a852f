/* probe_host.h — one check of a probe plugin, run by the host. What every probe would otherwise
 * write itself lives here once (cp/probe.h): the deadline, delivering the outcome from a host
 * loop callback (never from inside start() or the probe's own callbacks), the latency when the
 * probe leaves it to the host, "only the first done() counts", and ending every started check
 * with the plugin's release(). health_probe.c runs each agent's checks through it. */
#ifndef CORE_PROBE_HOST_H
#define CORE_PROBE_HOST_H

#include <stddef.h>

#include <cp/probe.h>

struct event_base;
struct probe_run;

/* The outcome of one check. error: NULL when ok or when the probe gave no reason, else why;
 * borrowed for the call. */
typedef void (*probe_result_fn)(void *arg, int ok, double latency_ms, const char *error);

/* Starts one check: ops->start(state, spec, ...) with a deadline of spec->timeout_ms on `base`.
 * Returns the run, whose outcome comes exactly once through fn — from the loop, after this
 * function returned — unless probe_run_cancel() comes first. Returns NULL, with err set and no
 * outcome to come, when start() refused the check (its err->msg, or a generic line) or memory
 * ran out. */
struct probe_run *probe_run_start(struct event_base *base, const struct cp_probe_ops *ops,
                                  void *state, const struct cp_probe_spec *spec, probe_result_fn fn,
                                  void *arg, char *err, size_t errlen);

/* Ends a run before its outcome was delivered: the plugin's release() runs now, fn never
 * does. */
void probe_run_cancel(struct probe_run *run);

/* The deadline used when a spec has none (timeout_ms 0). */
#define PROBE_DEFAULT_TIMEOUT_MS 10000

#endif
