/* main.c — cpd: configuration, plugins, storage (with fallback), HTTP server, event loop,
 * graceful shutdown on SIGINT/SIGTERM. Exit status: 0 clean stop, 2 bad configuration or
 * plugin, 1 runtime failure. */
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core.h"
#include "evalloc.h"
#include "evfast.h"
#include "http/http.h"
#include "log.h"
#include "ops.h"
#include "reload.h"
#include "store_closed.h"
#include "xalloc.h"

#define ERRLEN 512

static const char *env(const char *k)
{
    return getenv(k);
}

static struct plugin *load_one(struct cp_core *core, const char *dir, const char *spec, int kind,
                               const struct cfg_option *opts, size_t n_opts, char *err)
{
    char *path = plugin_resolve(spec, dir, err, ERRLEN);
    if (!path) return NULL;
    struct plugin *p = plugin_load(&core->plugins, path, kind, opts, n_opts, err, ERRLEN);
    free(path);
    return p;
}

static int load_storage(struct cp_core *core, const char *dir)
{
    const struct cp_config *cfg = core->cfg;
    char err[ERRLEN];
    core->storage_plugin = load_one(core, dir, cfg->storage, CP_PLUGIN_STORAGE,
                                    cfg->storage_options, cfg->n_storage_options, err);
    if (!core->storage_plugin) {
        if (!cfg->storage_fallback || strcmp(cfg->storage_fallback, "memory") != 0) {
            log_error("storage: %s", err);
            return -1;
        }
        log_error("!!! storage '%s' is unavailable (%s); FALLING BACK TO THE IN-MEMORY STORE: "
                  "state is not shared and is lost on exit !!!",
                  cfg->storage, err);
        core->storage_fallback = 1;
        core->storage_fallback_reason = xstrdup(err);
        core->storage_plugin = load_one(core, dir, "memory", CP_PLUGIN_STORAGE, NULL, 0, err);
        if (!core->storage_plugin) {
            log_error("storage fallback: %s", err);
            return -1;
        }
    }
    core->store = core->storage_plugin->ops;
    core->st = core->storage_plugin->state;
    return 0;
}

/* --check-config: the storage plugin is opened and its options checked, but not started (its
 * create() would connect). A fallback does not excuse a plugin that cannot be loaded at all. */
static int check_storage(struct cp_core *core, const char *dir)
{
    const struct cp_config *cfg = core->cfg;
    char err[ERRLEN];
    char *path = plugin_resolve(cfg->storage, dir, err, ERRLEN);
    int rc = path ? plugin_check(&core->plugins, path, CP_PLUGIN_STORAGE, cfg->storage_options,
                                 cfg->n_storage_options, err, ERRLEN)
                  : -1;
    if (rc < 0) log_error("storage: %s", err);
    free(path);
    return rc;
}

static int load_plugins(struct cp_core *core, const char *dir, int with_storage)
{
    const struct cp_config *cfg = core->cfg;
    char err[ERRLEN];
    for (size_t i = 0; i < cfg->n_selection_plugins; i++) {
        const struct cfg_plugin_ref *ref = &cfg->selection_plugins[i];
        if (!load_one(core, dir, ref->spec, CP_PLUGIN_SELECTION, ref->options, ref->n_options,
                      err)) {
            log_error("%s", err);
            return -1;
        }
    }
    for (size_t i = 0; i < cfg->n_probe_plugins; i++) {
        const struct cfg_plugin_ref *ref = &cfg->probe_plugins[i];
        if (!load_one(core, dir, ref->spec, CP_PLUGIN_PROBE, ref->options, ref->n_options, err)) {
            log_error("%s", err);
            return -1;
        }
    }
    if (!plugin_find(&core->plugins, CP_PLUGIN_SELECTION, cfg->selection_default)) {
        log_error("config: selection.default '%s' is not among the loaded selection plugins",
                  cfg->selection_default);
        return -1;
    }
    return with_storage ? load_storage(core, dir) : 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct cp_core *core = arg;
    log_info("signal %d: shutting down (answering held requests)", (int)sig);
    ops_drain(core);
    struct timeval flush = {0, 200 * 1000}; /* let the answers reach their clients */
    event_base_loopexit(core->base, &flush);
}

struct reload_args {
    struct cp_core *core;
    int argc;
    char **argv;
};

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    struct reload_args *ra = arg;
    core_reload(ra->core, ra->argc, ra->argv);
}

int main(int argc, char **argv)
{
    evalloc_install(); /* before anything libevent allocates */
    struct cp_config cfg;
    struct config_cli cli = {0};
    char err[ERRLEN];
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); /* a reload before the loop runs must not kill us */
    /* json-c parses every request body under a private "C" numeric locale, which it derives
     * from the thread's locale (duplocale + newlocale + freelocale: ~3 % of a request's CPU).
     * With the thread on glibc's built-in C locale object those calls return it as it is. cpd
     * never needs another locale: its text is ASCII and its numbers are C-formatted anyway. */
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c_locale) uselocale(c_locale);
    config_defaults(&cfg);
    int rc = config_from_args(&cfg, &cli, argc, argv, env, err, sizeof err);
    if (rc == 0 && config_validate(&cfg, err, sizeof err) < 0) rc = -1;
    if (rc != 0) {
        if (rc < 0) fprintf(stderr, "cpd: %s\n", err);
        config_free(&cfg);
        return rc < 0 ? 2 : 0;
    }
    log_set_level(cfg.log_level);

    struct cp_core core = {.cfg = &cfg};
    /* The changelist batches the epoll_ctl calls evhttp makes around every request. */
    struct event_config *ecfg = event_config_new();
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    core.base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    host_set_event_base(core.base);
    char *dir = cfg.plugin_dir ? xstrdup(cfg.plugin_dir) : plugin_default_dir();
    int status = 2;
    core.plugins.trust_any = !cfg.plugins_strict_permissions;
    if (core.plugins.trust_any)
        log_warn("plugins_strict_permissions is off: plugins are loaded whoever could write them");
    if (load_plugins(&core, dir, !cli.check_only) < 0) goto out;
    if (cli.check_only && check_storage(&core, dir) < 0) goto out;
    if (cli.check_only) {
        if (cfg.config_path)
            printf("cpd: configuration OK (%s)\n", cfg.config_path);
        else
            printf("cpd: configuration OK (built-in defaults and environment)\n");
        status = 0;
        goto out;
    }
    ops_open(&core, http_probe_decode);
    core.http = http_server_new(&core, err, sizeof err);
    if (!core.http) {
        log_error("%s", err);
        goto out;
    }
    struct event *sigint = evsignal_new(core.base, SIGINT, on_signal, &core);
    struct event *sigterm = evsignal_new(core.base, SIGTERM, on_signal, &core);
    struct reload_args reload = {&core, argc, argv};
    struct event *sighup = evsignal_new(core.base, SIGHUP, on_sighup, &reload);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    evsignal_add(sighup, NULL);
    ops_start(&core);
    if (!evfast_active()) /* only slower: libevent's own header formatting runs (evfast.c) */
        log_debug("libevent's reply-head functions are not replaced (static libevent?)");
    log_info("cpd %s listening on http://%s (storage: %s%s, plugins from %s, auth: %s)", CP_VERSION,
             cfg.listen, core.storage_plugin->desc->name, core.storage_fallback ? " FALLBACK" : "",
             dir, cfg.n_tokens ? "on" : "off");
    status = event_base_dispatch(core.base) < 0 ? 1 : 0;
    event_free(sigint);
    event_free(sigterm);
    event_free(sighup);
    log_info("cpd stopped");
out:
    /* Shutdown order: answer held requests, then destroy the store while every request and
     * module is still alive (it fails its in-flight operations through their callbacks), then
     * free the rest; anything that still asks the store gets "unavailable". */
    ops_drain(&core);
    if (core.storage_plugin) {
        plugin_unload(&core.plugins, core.storage_plugin);
        core.storage_plugin = NULL;
        core.store = &store_closed_ops;
        core.st = NULL;
    }
    http_server_free(core.http);
    ops_close(&core);
    plugin_set_unload(&core.plugins);
    event_base_free(core.base);
    free(core.storage_fallback_reason);
    free(dir);
    config_free(&cfg);
    return status;
}
