/* test_probe_host.c — core/probe_host.c, the part of every probe check that the host owns, with
 * an in-test probe plugin on a real event loop: the deadline of a probe that never reports, an
 * outcome reported inside start() delivered later, only the first done() counting, the latency
 * measured when the probe leaves it to the host, release() exactly once and never inside the
 * probe's own callback, cancel before delivery, start() refusing, and a new check started from
 * the result callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include <cp/probe.h>
#include <cp/time.h>

#include "probe_host.h"

/* ---- an in-test probe: each check does what the test's `mode` says ---------------------- */

enum mode {
    SILENT,         /* never calls done(): only the deadline ends it */
    IN_START,       /* calls done() inside start() */
    IN_START_TWICE, /* done() twice inside start(), then again from its own callback */
    FROM_CALLBACK,  /* done() from its own libevent callback after `after_ms` */
    REFUSE,         /* start() fails (after calling done(), which must be ignored) */
};

struct check {
    struct event *ev; /* the probe's own timer, for FROM_CALLBACK / IN_START_TWICE */
    cp_probe_done_cb done;
    void *cookie;
};

static struct {
    struct event_base *base;
    enum mode mode;
    int ok;
    double latency; /* what done() reports (< 0: measure it) */
    const char *error;
    int after_ms;
    int starts, releases;
    int in_callback;          /* 1 while the probe's own callback runs */
    int released_in_callback; /* release() came inside it: a broken promise */
} pr;

static void on_own_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct check *c = arg;
    pr.in_callback = 1;
    c->done(c->cookie, pr.ok, pr.latency, pr.error);
    c->done(c->cookie, !pr.ok, 1, "second call"); /* ignored */
    pr.in_callback = 0;
}

static int fake_start(void *state, const struct cp_probe_spec *spec, cp_probe_done_cb done,
                      void *cookie, void **handle, struct cp_err *err)
{
    (void)state;
    (void)spec;
    pr.starts++;
    if (pr.mode == REFUSE) {
        done(cookie, 1, 1, NULL);
        snprintf(err->msg, sizeof err->msg, "refused by the probe");
        return CP_ERR_INVALID;
    }
    struct check *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->done = done;
    c->cookie = cookie;
    if (pr.mode == IN_START || pr.mode == IN_START_TWICE) done(cookie, pr.ok, pr.latency, pr.error);
    if (pr.mode == IN_START_TWICE) done(cookie, !pr.ok, 1, "second call");
    if (pr.mode == FROM_CALLBACK || pr.mode == IN_START_TWICE) {
        c->ev = evtimer_new(pr.base, on_own_timer, c);
        struct timeval tv = cp_ms_to_timeval(pr.after_ms);
        evtimer_add(c->ev, &tv);
    }
    *handle = c;
    return 0;
}

static void fake_release(void *state, void *handle)
{
    (void)state;
    struct check *c = handle;
    pr.releases++;
    if (pr.in_callback) pr.released_in_callback = 1;
    if (c->ev) event_free(c->ev);
    free(c);
}

static const struct cp_probe_ops fake_ops = {
    .version = CP_PROBE_OPS_VERSION,
    .start = fake_start,
    .release = fake_release,
};

/* ---- the outcome, and running the loop ---------------------------------------------------- */

static struct outcome {
    int calls, ok;
    double latency;
    char error[256];
    int64_t at_us;
} out;

static void on_result(void *arg, int ok, double latency_ms, const char *error)
{
    struct outcome *o = arg;
    o->calls++;
    o->ok = ok;
    o->latency = latency_ms;
    o->at_us = cp_monotonic_us();
    snprintf(o->error, sizeof o->error, "%s", error ? error : "(null)");
}

static void run_ms(int ms)
{
    struct timeval tv = cp_ms_to_timeval(ms);
    event_base_loopexit(pr.base, &tv);
    event_base_dispatch(pr.base);
}

static struct probe_run *start(uint64_t timeout_ms)
{
    struct cp_kv items[] = {{"type", "fake"}};
    struct cp_probe_spec spec = {"agent-1", items, 1, timeout_ms};
    char err[256];
    memset(&out, 0, sizeof out);
    struct probe_run *run =
        probe_run_start(pr.base, &fake_ops, NULL, &spec, on_result, &out, err, sizeof err);
    assert_non_null(run);
    assert_int_equal(out.calls, 0); /* never inside probe_run_start() */
    return run;
}

static int setup(void **s)
{
    (void)s;
    memset(&pr, 0, sizeof pr);
    pr.base = event_base_new();
    pr.latency = -1;
    return pr.base ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    event_base_free(pr.base);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_deadline_ends_a_silent_probe(void **s)
{
    (void)s;
    pr.mode = SILENT;
    int64_t t0 = cp_monotonic_us();
    start(400);
    run_ms(100); /* well before the deadline, even on a loaded machine */
    assert_int_equal(out.calls, 0);
    assert_int_equal(pr.releases, 0);
    run_ms(2000);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.ok, 0);
    assert_string_equal(out.error, "timed out after 400 ms");
    assert_true(out.latency >= 390 && out.latency < 2000);
    assert_true(out.at_us - t0 >= 390000);
    assert_int_equal(pr.releases, 1);
}

static void test_done_inside_start_is_delivered_later(void **s)
{
    (void)s;
    pr.mode = IN_START;
    pr.ok = 0;
    pr.error = "connection refused";
    start(5000);
    assert_int_equal(pr.releases, 0);
    run_ms(50);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.ok, 0);
    assert_string_equal(out.error, "connection refused");
    assert_true(out.latency >= 0 && out.latency < 50); /* measured by the host */
    assert_int_equal(pr.releases, 1);
    run_ms(100);
    assert_int_equal(out.calls, 1);
}

static void test_only_the_first_done_counts(void **s)
{
    (void)s;
    pr.mode = IN_START_TWICE;
    pr.ok = 1;
    pr.latency = 7.5; /* the probe's own figure is kept */
    pr.after_ms = 1;
    start(5000);
    run_ms(100);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.ok, 1);
    assert_string_equal(out.error, "(null)");
    assert_true(out.latency == 7.5);
    assert_int_equal(pr.releases, 1);
}

static void test_release_never_inside_the_probes_callback(void **s)
{
    (void)s;
    pr.mode = FROM_CALLBACK;
    pr.ok = 0;
    pr.error = NULL; /* no reason given: none is invented */
    pr.after_ms = 30;
    start(5000);
    run_ms(500);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.ok, 0);
    assert_string_equal(out.error, "(null)");
    assert_true(out.latency >= 25 && out.latency < 2000);
    assert_int_equal(pr.releases, 1);
    assert_int_equal(pr.released_in_callback, 0);
}

static void test_cancel_before_delivery(void **s)
{
    (void)s;
    pr.mode = IN_START; /* an outcome is recorded, not yet delivered */
    pr.ok = 1;
    probe_run_cancel(start(5000));
    assert_int_equal(pr.releases, 1);
    pr.mode = SILENT;
    probe_run_cancel(start(100));
    assert_int_equal(pr.releases, 2);
    run_ms(300); /* past the deadline: nothing */
    assert_int_equal(out.calls, 0);
    assert_int_equal(pr.releases, 2);
    probe_run_cancel(NULL); /* harmless */
}

static void test_refused_start(void **s)
{
    (void)s;
    pr.mode = REFUSE;
    struct cp_kv items[] = {{"type", "fake"}};
    struct cp_probe_spec spec = {"agent-1", items, 1, 100};
    char err[256];
    memset(&out, 0, sizeof out);
    assert_null(probe_run_start(pr.base, &fake_ops, NULL, &spec, on_result, &out, err, sizeof err));
    assert_string_equal(err, "refused by the probe");
    run_ms(300);
    assert_int_equal(out.calls, 0); /* its done() inside the failed start() is dropped */
    assert_int_equal(pr.releases, 0);
    assert_null(probe_run_start(NULL, &fake_ops, NULL, &spec, on_result, &out, err, sizeof err));
    assert_string_equal(err, "no event loop to run probes on");
}

/* The result callback starts the next check, as the health monitor may: the finished run is
 * gone by then. */
static int chained;
static void on_result_start_next(void *arg, int ok, double latency_ms, const char *error)
{
    on_result(arg, ok, latency_ms, error);
    if (++chained < 3) {
        struct cp_kv items[] = {{"type", "fake"}};
        struct cp_probe_spec spec = {"agent-1", items, 1, 5000};
        char err[256];
        assert_non_null(probe_run_start(pr.base, &fake_ops, NULL, &spec, on_result_start_next, arg,
                                        err, sizeof err));
    }
}

static void test_next_check_from_the_result(void **s)
{
    (void)s;
    pr.mode = IN_START;
    pr.ok = 1;
    struct cp_kv items[] = {{"type", "fake"}};
    struct cp_probe_spec spec = {"agent-1", items, 1, 5000};
    char err[256];
    memset(&out, 0, sizeof out);
    chained = 0;
    assert_non_null(probe_run_start(pr.base, &fake_ops, NULL, &spec, on_result_start_next, &out,
                                    err, sizeof err));
    run_ms(200);
    assert_int_equal(out.calls, 3);
    assert_int_equal(pr.starts, 3);
    assert_int_equal(pr.releases, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deadline_ends_a_silent_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_inside_start_is_delivered_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_the_first_done_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_never_inside_the_probes_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_check_from_the_result, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
