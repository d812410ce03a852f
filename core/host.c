/* host.c — the services table (struct cp_host) lent to each plugin instance: prefixed logging,
 * its config options, the event loop and one-shot timers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "plugin_loader.h"

/* One pending timer. Owned by the host: freed when it fires (before the callback runs, so the
 * callback may add new timers freely), when cancelled, or by host_release() at unload. Pending
 * timers are chained so an unloaded plugin's forgotten timers can never fire into its unmapped
 * code. */
struct cp_timer {
    struct event *ev;
    struct plugin *owner;
    void (*cb)(void *arg);
    void *arg;
    struct cp_timer *prev, *next;
};

static struct event_base *loop_base;
static struct cp_timer *pending;

static struct plugin *owner_of(const struct cp_host *host)
{
    return host ? (struct plugin *)host->host_private : NULL;
}

static void timer_unlink_free(struct cp_timer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        pending = t->next;
    if (t->next) t->next->prev = t->prev;
    event_free(t->ev);
    free(t);
}

static void host_log(const struct cp_host *host, int level, const char *fmt, ...)
{
    const struct plugin *p = owner_of(host);
    char prefix[96];
    const char *name = p && p->desc && p->desc->name ? p->desc->name : "plugin";
    snprintf(prefix, sizeof prefix, "[%.80s] ", name);
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, prefix, fmt, ap);
    va_end(ap);
}

static const char *host_option(const struct cp_host *host, const char *key)
{
    const struct plugin *p = owner_of(host);
    if (!p || !key) return NULL;
    for (size_t i = 0; i < p->n_options; i++)
        if (p->options[i].key && strcmp(p->options[i].key, key) == 0) return p->options[i].value;
    return NULL;
}

static struct event_base *host_event_base(const struct cp_host *host)
{
    (void)host;
    return loop_base;
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cp_timer *t = arg;
    void (*cb)(void *) = t->cb;
    void *cb_arg = t->arg;
    timer_unlink_free(t);
    cb(cb_arg);
}

static struct cp_timer *host_timer_add(const struct cp_host *host, uint64_t ms,
                                       void (*cb)(void *arg), void *arg)
{
    if (!loop_base || !cb) return NULL;
    struct cp_timer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ev = evtimer_new(loop_base, timer_fire, t);
    if (!t->ev) {
        free(t);
        return NULL;
    }
    struct timeval tv = cp_ms_to_timeval(ms > INT64_MAX ? INT64_MAX : (int64_t)ms);
    if (evtimer_add(t->ev, &tv) != 0) {
        event_free(t->ev);
        free(t);
        return NULL;
    }
    t->owner = owner_of(host);
    t->cb = cb;
    t->arg = arg;
    t->next = pending;
    if (pending) pending->prev = t;
    pending = t;
    return t;
}

static void host_timer_cancel(const struct cp_host *host, struct cp_timer *timer)
{
    (void)host;
    if (timer) timer_unlink_free(timer);
}

void host_init(struct cp_host *host, struct plugin *owner)
{
    memset(host, 0, sizeof *host);
    host->version = CP_HOST_VERSION;
    host->host_private = owner;
    host->log = host_log;
    host->option = host_option;
    host->event_base = host_event_base;
    host->timer_add = host_timer_add;
    host->timer_cancel = host_timer_cancel;
}

void host_set_event_base(struct event_base *base)
{
    loop_base = base;
}

void host_release(struct plugin *owner)
{
    struct cp_timer *t = pending;
    while (t) {
        struct cp_timer *next = t->next;
        if (t->owner == owner) timer_unlink_free(t);
        t = next;
    }
}
