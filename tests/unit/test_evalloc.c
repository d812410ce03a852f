/* test_evalloc.c — core/evalloc.c, libevent's allocator: blocks of every size are 16-byte
 * aligned and hold what was written; a freed block is handed out again for the same size (the
 * free list at work); realloc keeps the contents while it grows or shrinks across the small and
 * large sizes, in place within a block's room; a random mix of 20,000 operations keeps every
 * block's contents; and libevent itself (an event base, buffers, header lists) runs on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "evalloc.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 31 + i);
}

static int holds(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31 + i)) return 0;
    return 1;
}

static void test_every_size_aligned_and_kept(void **s)
{
    (void)s;
    for (size_t n = 1; n < 2100; n += (n < 600 ? 1 : 37)) {
        unsigned char *p = evalloc_malloc(n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        fill(p, n, (unsigned)n);
        assert_true(holds(p, n, (unsigned)n));
        evalloc_free(p);
    }
    evalloc_free(NULL);
}

static void test_freed_block_is_reused(void **s)
{
    (void)s;
    void *a = evalloc_malloc(40), *b = evalloc_malloc(40);
    evalloc_free(a);
    assert_ptr_equal(evalloc_malloc(40), a); /* popped from its size's list */
    evalloc_free(b);
    evalloc_free(a);
    void *big = evalloc_malloc(5000); /* large: malloc's, not kept */
    assert_non_null(big);
    evalloc_free(big);
}

static void test_realloc_keeps_contents(void **s)
{
    (void)s;
    unsigned char *p = evalloc_realloc(NULL, 10);
    fill(p, 10, 7);
    unsigned char *q = evalloc_realloc(p, 12); /* within the block's room: in place */
    assert_ptr_equal(q, p);
    fill(q, 12, 7);
    q = evalloc_realloc(q, 300);
    assert_true(holds(q, 12, 7));
    fill(q, 300, 8);
    q = evalloc_realloc(q, 4000); /* small to large */
    assert_true(holds(q, 300, 8));
    fill(q, 4000, 9);
    q = evalloc_realloc(q, 9000); /* large to larger */
    assert_true(holds(q, 4000, 9));
    q = evalloc_realloc(q, 20); /* large to small */
    assert_true(holds(q, 20, 9));
    assert_null(evalloc_realloc(q, 0)); /* freed, as glibc's realloc(p, 0) */
}

static void test_random_mix(void **s)
{
    (void)s;
    enum { SLOTS = 500 };
    unsigned char *slot[SLOTS] = {0};
    size_t len[SLOTS] = {0};
    unsigned seed[SLOTS] = {0};
    srand(14);
    for (int i = 0; i < 20000; i++) {
        int k = rand() % SLOTS;
        if (slot[k]) assert_true(holds(slot[k], len[k], seed[k]));
        size_t n = rand() % 4 ? (size_t)(rand() % 600 + 1) : (size_t)(rand() % 6000 + 1);
        switch (rand() % 3) {
        case 0:
            evalloc_free(slot[k]);
            slot[k] = NULL, len[k] = 0;
            break;
        case 1:
            evalloc_free(slot[k]);
            slot[k] = evalloc_malloc(n), len[k] = n, seed[k] = (unsigned)i;
            assert_non_null(slot[k]);
            fill(slot[k], n, seed[k]);
            break;
        default: {
            unsigned char *q = evalloc_realloc(slot[k], n);
            assert_non_null(q);
            size_t keep = len[k] < n ? len[k] : n;
            if (slot[k]) assert_true(holds(q, keep, seed[k]));
            slot[k] = q, len[k] = n, seed[k] = (unsigned)i;
            fill(q, n, seed[k]);
        }
        }
    }
    for (int k = 0; k < SLOTS; k++)
        evalloc_free(slot[k]);
}

static void test_libevent_runs_on_it(void **s)
{
    (void)s;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct evbuffer *b = evbuffer_new();
    for (int i = 0; i < 1000; i++)
        evbuffer_add_printf(b, "line %d of a buffer that grows past a few chains\r\n", i);
    char *line = NULL;
    size_t n;
    int lines = 0;
    while ((line = evbuffer_readln(b, &n, EVBUFFER_EOL_CRLF))) {
        lines++;
        evalloc_free(line); /* libevent's memory: freed through its allocator */
    }
    assert_int_equal(lines, 1000);
    evbuffer_free(b);
    struct evkeyvalq headers;
    TAILQ_INIT(&headers);
    for (int i = 0; i < 200; i++) {
        char k[16];
        snprintf(k, sizeof k, "X-H%d", i);
        assert_int_equal(evhttp_add_header(&headers, k, "value"), 0);
    }
    assert_string_equal(evhttp_find_header(&headers, "x-h199"), "value");
    evhttp_clear_headers(&headers);
    event_base_free(base);
}

int main(void)
{
    /* Before any other libevent call, as in cpd's main(). */
    event_set_mem_functions(evalloc_malloc, evalloc_realloc, evalloc_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_size_aligned_and_kept),
        cmocka_unit_test(test_freed_block_is_reused),
        cmocka_unit_test(test_realloc_keeps_contents),
        cmocka_unit_test(test_random_mix),
        cmocka_unit_test(test_libevent_runs_on_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
