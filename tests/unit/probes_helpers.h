/* probes_helpers.h — shared by the test_probes_*.c files: open a built probe plugin .so (through
 * plugin_dl.h, not core's loader), run checks on one event loop the way cpd does (through
 * core/probe_host.c: the host's deadline and delivery), and loopback ports. Linked in as
 * probes_helpers.c, which alone includes plugin_dl.h so that there is one dl_base per test. */
#ifndef TEST_PROBES_HELPERS_H
#define TEST_PROBES_HELPERS_H

#include <stdint.h>

#include <event2/event.h>

#include <cp/probe.h>

#include "probe_host.h"

struct probe {
    void *dl;
    const struct cp_probe_ops *ops;
    void *state;
};

/* The outcome the host delivered; calls counts them (exactly once per check). */
struct result {
    int calls, ok;
    double latency_ms;
    char error[256];
};

/* cmocka group setup/teardown: the event loop every probe runs on (probes_base()); SIGPIPE is
 * ignored, as cpd does: a peer that hangs up must not kill the process. */
int probes_setup(void **unused);
int probes_teardown(void **unused);
struct event_base *probes_base(void);

/* Opens CP_PLUGIN_DIR/<name>.so and creates an instance; probe_unload() destroys it (once every
 * check was released: run to its outcome or cancelled). */
struct probe probe_load(const char *name);
void probe_unload(struct probe *p);

/* Runs the loop until *flag is non-zero or max_ms pass; returns *flag. */
int run_until(const int *flag, int max_ms);
void run_for(int ms);

/* Starts one check of {type, key=value} through probe_run_start(); fails the test unless it
 * starts, with no outcome delivered inside. Returns the run (probe_run_cancel() to stop it). */
struct probe_run *check_start(struct probe *p, struct result *r, uint64_t timeout_ms,
                              const char *key, const char *value, const char *type);

/* Runs one check to completion; its outcome must be delivered exactly once. */
void check_run(struct probe *p, struct result *r, uint64_t timeout_ms, const char *key,
               const char *value, const char *type);

/* validate() and start() both refuse {type, key=value} (value NULL: key absent) with a message
 * containing msg_part; expect_valid(): validate() accepts it. */
void expect_invalid(struct probe *p, const char *type, const char *key, const char *value,
                    const char *msg_part);
void expect_valid(struct probe *p, const char *type, const char *key, const char *value);

/* A loopback port on which nothing listens (bound, then closed). */
int closed_port(void);

/* A listening loopback socket; *port gets its port. */
int listening_socket(int *port, int backlog);

#endif
