/* test_events.c — the domain event subscriber list (core/events.c): order of delivery, the same
 * subscriber twice, unsubscribing (also from inside a callback, of itself or of another), a
 * subscriber added while an event is handed out, and nothing delivered with nobody listening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"

static struct events *ev;
static char log_buf[256];

struct sub {
    char name;
    int unsubscribe_self;    /* on its next event */
    struct sub *unsubscribe; /* this other one, on its next event */
    struct sub *subscribe;   /* this other one, on its next event */
};

static void on_event(void *arg, const struct domain_event *e)
{
    struct sub *s = arg;
    size_t n = strlen(log_buf);
    snprintf(log_buf + n, sizeof log_buf - n, "%c%d ", s->name, e->kind);
    if (s->unsubscribe_self) {
        s->unsubscribe_self = 0;
        assert_int_equal(events_unsubscribe(ev, on_event, s), 0);
    }
    if (s->unsubscribe) {
        assert_int_equal(events_unsubscribe(ev, on_event, s->unsubscribe), 0);
        s->unsubscribe = NULL;
    }
    if (s->subscribe) {
        events_subscribe(ev, on_event, s->subscribe);
        s->subscribe = NULL;
    }
}

static void emit(int kind)
{
    struct domain_event e = {.kind = kind};
    events_emit(ev, &e);
}

static int setup(void **state)
{
    (void)state;
    ev = events_new();
    log_buf[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    events_free(ev);
    return 0;
}

static void test_order_and_duplicates(void **state)
{
    (void)state;
    struct sub a = {.name = 'a'}, b = {.name = 'b'};
    assert_false(events_active(ev));
    emit(1); /* nobody: nothing */
    events_subscribe(ev, on_event, &a);
    events_subscribe(ev, on_event, &b);
    events_subscribe(ev, on_event, &a);
    assert_true(events_active(ev));
    emit(2);
    assert_string_equal(log_buf, "a2 b2 a2 ");
    assert_int_equal(events_unsubscribe(ev, on_event, &a), 0); /* the first of the two */
    log_buf[0] = '\0';
    emit(3);
    assert_string_equal(log_buf, "b3 a3 ");
    assert_int_equal(events_unsubscribe(ev, on_event, &a), 0);
    assert_int_equal(events_unsubscribe(ev, on_event, &a), -1);
    assert_int_equal(events_unsubscribe(ev, NULL, NULL), -1); /* an empty slot is no one */
    assert_int_equal(events_unsubscribe(ev, on_event, &b), 0);
    assert_false(events_active(ev));
    assert_null(events_active(NULL) ? ev : NULL);
}

static void test_changes_from_inside_a_callback(void **state)
{
    (void)state;
    struct sub a = {.name = 'a'}, b = {.name = 'b'}, c = {.name = 'c'}, d = {.name = 'd'};
    events_subscribe(ev, on_event, &a);
    events_subscribe(ev, on_event, &b);
    events_subscribe(ev, on_event, &c);
    a.unsubscribe_self = 1; /* a leaves: b, c still get this event */
    a.subscribe = &d;       /* d joins: from the next event on */
    emit(1);
    assert_string_equal(log_buf, "a1 b1 c1 ");
    log_buf[0] = '\0';
    b.unsubscribe = &c; /* c is removed before its turn: it misses this event */
    emit(2);
    assert_string_equal(log_buf, "b2 d2 ");
    log_buf[0] = '\0';
    emit(3);
    assert_string_equal(log_buf, "b3 d3 ");
    /* many subscribers: the list grows, keeping the order */
    struct sub many[20];
    for (int i = 0; i < 20; i++) {
        many[i] = (struct sub){.name = (char)('A' + i)};
        events_subscribe(ev, on_event, &many[i]);
    }
    log_buf[0] = '\0';
    emit(4);
    assert_int_equal(strncmp(log_buf, "b4 d4 A4 B4 ", 12), 0);
    assert_non_null(strstr(log_buf, "T4 "));
    assert_string_equal(events_kind_name(EVT_TASK_CLAIMED), "task_claimed");
    assert_string_equal(events_kind_name(0), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_from_inside_a_callback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
