/* xalloc.h — the core's one allocation rule: allocate through these checked wrappers, which
 * never return NULL. Out of memory is logged with the size asked for and the process aborts
 * (Redis' zmalloc OOM handler, Varnish's AN()): cpd's state is in its store, a half-done
 * request path that "handles" a failed malloc is code that is never run, and a crash with a
 * clear line is what an operator can act on. Plugins are the exception: they return
 * CP_ERR_NOMEM and must never abort the host, and host services a plugin calls (host->alloc,
 * host->timer_add) return NULL as the ABI promises. */
#ifndef CORE_XALLOC_H
#define CORE_XALLOC_H

#include <stddef.h>

#include <event2/event.h>

struct evbuffer;

/* Logs "out of memory: <what> (<size> bytes)" and aborts. */
_Noreturn void xalloc_die(const char *what, size_t size);

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s); /* NULL for NULL */
char *xstrndup(const char *s, size_t max);
/* evbuffer_new() that never returns NULL. */
struct evbuffer *xevbuffer_new(void);
/* event_new() that never returns NULL (evtimer: fd -1, what 0). */
struct event *xevent_new(struct event_base *base, evutil_socket_t fd, short what,
                         event_callback_fn cb, void *arg);
#define xevtimer_new(base, cb, arg) xevent_new((base), -1, 0, (cb), (arg))

/* Tests: the n-th checked allocation from now (1 = the next) fails as if memory ran out; 0 turns
 * the hook off. For death tests of the rule itself. */
void xalloc_fail_after(unsigned long n);

#endif
