/* plugin_dl.h — test harness: open a built plugin .so with dlopen() and lend it a host table.
 *
 * Deliberately independent of core's plugin loader: test_strategies.c and test_probes_*.c check the
 * plugins against the SDK contract alone. The host's event_base is whatever the test stores in
 * dl_base (NULL = no loop); timers are one-shot libevent timers on it.
 */
#ifndef TEST_PLUGIN_DL_H
#define TEST_PLUGIN_DL_H

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include <cp/plugin.h>
#include <cp/time.h>

static struct event_base *dl_base;

struct cp_timer {
    struct event *ev;
    void (*cb)(void *arg);
    void *arg;
};

static void dl_log(const struct cp_host *host, int level, const char *fmt, ...)
{
    (void)host;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[plugin %d] ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char *dl_option(const struct cp_host *host, const char *key)
{
    (void)host;
    (void)key;
    return NULL;
}

static struct event_base *dl_event_base(const struct cp_host *host)
{
    (void)host;
    return dl_base;
}

static void dl_timer_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cp_timer *t = arg;
    void (*cb)(void *) = t->cb;
    void *cb_arg = t->arg;
    event_free(t->ev); /* fired: the host frees it */
    free(t);
    cb(cb_arg);
}

static struct cp_timer *dl_timer_add(const struct cp_host *host, uint64_t ms, void (*cb)(void *),
                                     void *arg)
{
    (void)host;
    struct cp_timer *t = dl_base ? calloc(1, sizeof(*t)) : NULL;
    if (!t) return NULL;
    t->cb = cb;
    t->arg = arg;
    t->ev = evtimer_new(dl_base, dl_timer_fire, t);
    struct timeval tv = cp_ms_to_timeval(ms > INT64_MAX ? INT64_MAX : (int64_t)ms);
    evtimer_add(t->ev, &tv);
    return t;
}

static void dl_timer_cancel(const struct cp_host *host, struct cp_timer *t)
{
    (void)host;
    if (!t) return;
    event_free(t->ev);
    free(t);
}

static const struct cp_host dl_host = {
    .version = CP_HOST_VERSION,
    .log = dl_log,
    .option = dl_option,
    .event_base = dl_event_base,
    .timer_add = dl_timer_add,
    .timer_cancel = dl_timer_cancel,
};

/* Opens CP_PLUGIN_DIR/<name>.so, checks its descriptor (ABI, signature, kind, name) and returns
 * it; *dl gets the handle for dlclose(). Fails the current test on any mismatch. */
static const struct cp_plugin_descriptor *dl_open_plugin(const char *name, uint32_t kind, void **dl)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.so", CP_PLUGIN_DIR, name);
    *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!*dl) fail_msg("dlopen %s: %s", path, dlerror());
    const struct cp_plugin_descriptor *d = dlsym(*dl, "cp_plugin_descriptor");
    assert_non_null(d);
    assert_int_equal(d->abi_major, CP_ABI_MAJOR);
    assert_true(d->abi_minor <= CP_ABI_MINOR);
    assert_string_equal(d->build_signature, CP_BUILD_SIGNATURE);
    assert_int_equal(d->kind, kind);
    assert_string_equal(d->name, name);
    assert_non_null(d->ops);
    return d;
}

#endif
