/* xalloc.c — the checked allocation wrappers of xalloc.h: out of memory logs and aborts. */
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "log.h"

/* The test hook: allocations left before one fails (0 = off). Single-threaded like the core. */
static unsigned long fail_countdown;

static int injected_failure(void)
{
    return fail_countdown != 0 && --fail_countdown == 0;
}

void xalloc_fail_after(unsigned long n)
{
    fail_countdown = n;
}

void xalloc_die(const char *what, size_t size)
{
    log_error("out of memory: %s (%zu bytes); aborting", what, size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = injected_failure() ? NULL : malloc(size ? size : 1);
    if (!p) xalloc_die("malloc", size);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = injected_failure() ? NULL : calloc(n ? n : 1, size ? size : 1);
    if (!p) xalloc_die("calloc", n * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = injected_failure() ? NULL : realloc(ptr, size ? size : 1);
    if (!p) xalloc_die("realloc", size);
    return p;
}

char *xstrdup(const char *s)
{
    if (!s) return NULL;
    char *p = injected_failure() ? NULL : strdup(s);
    if (!p) xalloc_die("strdup", strlen(s) + 1);
    return p;
}

char *xstrndup(const char *s, size_t max)
{
    char *p = injected_failure() ? NULL : strndup(s, max);
    if (!p) xalloc_die("strndup", strnlen(s, max) + 1);
    return p;
}

struct evbuffer *xevbuffer_new(void)
{
    struct evbuffer *b = injected_failure() ? NULL : evbuffer_new();
    if (!b) xalloc_die("evbuffer_new", sizeof(void *));
    return b;
}

struct event *xevent_new(struct event_base *base, evutil_socket_t fd, short what,
                         event_callback_fn cb, void *arg)
{
    struct event *ev = injected_failure() ? NULL : event_new(base, fd, what, cb, arg);
    if (!ev) xalloc_die("event_new", sizeof(void *));
    return ev;
}
