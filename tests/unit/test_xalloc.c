/* test_xalloc.c — the core's allocation rule (core/xalloc.c): a checked allocation that fails
 * logs what it was and aborts the process, never returning NULL. Each case runs in a child
 * process that must die by SIGABRT with the message on stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "xalloc.h"

enum which { MALLOC, CALLOC, REALLOC, STRDUP, EVBUFFER, EVENT };

static void allocate(enum which w)
{
    switch (w) {
    case MALLOC:
        free(xmalloc(10));
        break;
    case CALLOC:
        free(xcalloc(2, 8));
        break;
    case REALLOC:
        free(xrealloc(NULL, 32));
        break;
    case STRDUP:
        free(xstrdup("abc"));
        break;
    case EVBUFFER:
        evbuffer_free(xevbuffer_new());
        break;
    case EVENT:
        event_free(xevtimer_new(NULL, NULL, NULL));
        break;
    }
}

/* Run allocate(w) with the n-th allocation failing in a child; its stderr into out. */
static int run_failing(enum which w, unsigned long nth, char *out, size_t len)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        xalloc_fail_after(nth);
        allocate(w);
        _exit(0); /* survived */
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < len && (n = read(fds[0], out + got, len - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void test_each_wrapper_aborts_with_a_message(void **state)
{
    (void)state;
    static const struct {
        enum which w;
        const char *what;
    } cases[] = {{MALLOC, "out of memory: malloc (10 bytes)"},
                 {CALLOC, "out of memory: calloc (16 bytes)"},
                 {REALLOC, "out of memory: realloc (32 bytes)"},
                 {STRDUP, "out of memory: strdup (4 bytes)"},
                 {EVBUFFER, "out of memory: evbuffer_new"},
                 {EVENT, "out of memory: event_new"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512];
        int status = run_failing(cases[i].w, 1, err, sizeof err);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGABRT);
        if (!strstr(err, cases[i].what)) fail_msg("case %zu: stderr was: %s", i, err);
    }
}

static void test_only_the_nth_fails(void **state)
{
    (void)state;
    char err[512];
    /* the first allocation passes when the second is the one set to fail */
    int status = run_failing(MALLOC, 2, err, sizeof err);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* without the hook nothing fails; NULL is copied as NULL */
    allocate(MALLOC);
    allocate(STRDUP);
    assert_null(xstrdup(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_wrapper_aborts_with_a_message),
        cmocka_unit_test(test_only_the_nth_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
