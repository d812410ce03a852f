/* events_tests.c — cp_client_events() against a real cpd (filters, every event of a change in
 * order, stop from the callback, resume with last_event_id, interrupt, a refused filter) and
 * against the fake server of only_client.py (reconnection with Last-Event-ID after the server
 * ends the stream, the retry: delay, an oversized event refused). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_test.h"

struct seen {
    int n, stop_after;
    char type[16][32];
    char id[16][64];
    char data[16][512];
};

static int collect(void *arg, const struct cpc_event *ev)
{
    struct seen *s = arg;
    if (s->n < 16) {
        snprintf(s->type[s->n], sizeof s->type[0], "%s", ev->type);
        snprintf(s->id[s->n], sizeof s->id[0], "%s", ev->id);
        snprintf(s->data[s->n], sizeof s->data[0], "%s", ev->data);
    }
    return ++s->n >= s->stop_after;
}

struct producer {
    const char *type;
    const char *cap;
    char *tasks[4];
    int n;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Another client submits n tasks of p->type after a pause (the stream is open by then). */
static void *produce(void *arg)
{
    struct producer *p = arg;
    sleep_ms(500);
    cp_client *c = cp_client_new(url, NULL);
    for (int i = 0; c && i < p->n; i++) {
        const char *caps[] = {p->cap};
        struct cpc_task_spec s = {
            .task_type = p->type, .required_capabilities = caps, .n_required = 1};
        if (cp_client_task_submit(c, &s, &p->tasks[i]) != CPC_OK) p->tasks[i] = NULL;
    }
    cp_client_free(c);
    return NULL;
}

void test_events(void **state)
{
    (void)state;
    char type[64];
    snprintf(type, sizeof type, "%s", uid("evtype"));
    struct producer p = {.type = type, .cap = "ev-cap", .n = 3};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, produce, &p), 0);
    struct seen s = {.stop_after = 3};
    struct cpc_events_options o = {.types = "task_submitted", .task_type = type};
    ASSERT_OK(cp_client_events(C, &o, collect, &s)); /* stopped by the callback: CPC_OK */
    pthread_join(th, NULL);
    assert_int_equal(s.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(s.type[i], "task_submitted");
        assert_non_null(p.tasks[i]);
        assert_non_null(strstr(s.data[i], p.tasks[i]));
        assert_true(strlen(s.id[i]) > 0);
        if (i) assert_true(strtoull(s.id[i], NULL, 10) > strtoull(s.id[i - 1], NULL, 10));
    }
    /* Resumed after the first: the other two again, from what the server keeps. */
    struct seen r = {.stop_after = 2};
    o.last_event_id = s.id[0];
    ASSERT_OK(cp_client_events(C, &o, collect, &r));
    assert_string_equal(r.id[0], s.id[1]);
    assert_string_equal(r.id[1], s.id[2]);
    for (int i = 0; i < 3; i++)
        free(p.tasks[i]);

    /* A filter the server refuses. */
    struct cpc_events_options bad = {.types = "task_done"};
    expect_error(cp_client_events(C, &bad, collect, &r), CPC_ERR_INVALID, 400, "invalid_field");
    struct cpc_events_options bad_id = {.last_event_id = "1\r\nX-Evil: 1"};
    assert_int_equal(cp_client_events(C, &bad_id, collect, &r), CPC_ERR_INVALID);
}

static void *interrupt_later(void *arg)
{
    sleep_ms(400);
    cp_client_interrupt(arg);
    return NULL;
}

void test_events_interrupt(void **state)
{
    (void)state;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, interrupt_later, C), 0);
    struct seen s = {.stop_after = 1000};
    struct cpc_events_options o = {
        .types = "task_submitted", .task_type = "never-submitted", .reconnect = 1};
    int64_t t0 = mono_ms();
    assert_int_equal(cp_client_events(C, &o, collect, &s), CPC_ERR_INTERRUPTED);
    assert_true(mono_ms() - t0 < 3000);
    pthread_join(th, NULL);
    assert_int_equal(s.n, 0);
}

/* The fake server ends its stream after each event; with reconnect the client comes back with
 * Last-Event-ID (the fake answers "id: 8" only to "Last-Event-ID: 7") after its retry: delay. */
void test_events_fake(void **state)
{
    (void)state;
    struct seen s = {.stop_after = 2};
    struct cpc_events_options o = {.reconnect = 1};
    ASSERT_OK(cp_client_events(C, &o, collect, &s));
    assert_int_equal(s.n, 2);
    assert_string_equal(s.type[0], "first");
    assert_string_equal(s.id[0], "7");
    assert_string_equal(s.type[1], "second");
    assert_string_equal(s.id[1], "8");
    assert_string_equal(s.data[1], "{\"x\":1}\n{\"y\":2}"); /* two data lines */
    /* Without reconnect: the first event, then the end of the stream. */
    struct seen once = {.stop_after = 100};
    struct cpc_events_options no = {0};
    ASSERT_OK(cp_client_events(C, &no, collect, &once));
    assert_int_equal(once.n, 1);
    /* An event over 1 MiB: refused, not buffered. */
    struct cpc_events_options big = {.types = "big", .reconnect = 1};
    assert_int_equal(cp_client_events(C, &big, collect, &once), CPC_ERR_PROTOCOL);
    assert_int_equal(once.n, 1);
}
