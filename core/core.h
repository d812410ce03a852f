/* core.h — the control plane's shared state: configuration, event loop, plugins, storage, and
 * the modules that decide (scheduler, health). One per cpd process; single-threaded. */
#ifndef CORE_CORE_H
#define CORE_CORE_H

#include <cp/storage.h>

#include "config.h"
#include "plugin_loader.h"

struct event_base;
struct scheduler;
struct health_monitor;
struct http_server;

struct cp_core {
    struct cp_config *cfg;
    struct event_base *base;
    struct plugin_set plugins;

    struct plugin *storage_plugin;
    const struct cp_storage_ops *store; /* storage_plugin's ops */
    void *st;                           /* storage_plugin's state */
    int storage_fallback;               /* 1: the configured store was unreachable; on memory */
    char *storage_fallback_reason;

    struct scheduler *sched;
    struct health_monitor *health;
    struct http_server *http;
};

/* Convenience: call a storage op on the core's store. */
#define CORE_STORE(core, op, ...) ((core)->store->op((core)->st, __VA_ARGS__))

/* The selection plugin named `name` (NULL = the configured default), or NULL. */
struct plugin *core_strategy(struct cp_core *core, const char *name);

#endif
