/* plugin_loader.h — dlopen a plugin .so, check its descriptor before running any of its code,
 * and create an instance with a host-services table. */
#ifndef CORE_PLUGIN_LOADER_H
#define CORE_PLUGIN_LOADER_H

#include <stddef.h>

#include <cp/plugin.h>

struct event_base;

#include "config.h"

struct plugin {
    char *path;
    void *dl; /* dlopen handle */
    const struct cp_plugin_descriptor *desc;
    const void *ops; /* desc->ops, typed by kind */
    void *state;     /* from ops->create() */
    struct cp_host host; /* this instance's services (log prefix, options) */
    const struct cfg_option *options; /* borrowed from the config */
    size_t n_options;
};

/* The set of loaded plugins; names are unique per kind. */
struct plugin_set {
    struct plugin *items[3 * CFG_MAX_PLUGINS + 1];
    size_t n;
    int trust_any; /* 1: skip plugin_path_trusted() (plugins_strict_permissions: false) */
};

/* sshd StrictModes for plugins (plugin_trust.c): the file and every directory above it belong
 * to root or to cpd's user and are not writable by others (a sticky directory and the owner's
 * private group excepted). 0, or -1 with one line naming the path and the fix. */
int plugin_path_trusted(const char *path, char *err, size_t errlen);

/* Resolve `spec` to a file path: a bare name -> <dir>/<name>.so; a spec containing '/' or
 * ending in ".so" is a path used as is. Returns a malloc'd path or NULL with err set. */
char *plugin_resolve(const char *spec, const char *dir, char *err, size_t errlen);

/* Load and check one plugin of `kind`, then call its create(). Refuses: file not loadable, no
 * descriptor, wrong ABI major, newer ABI minor, wrong build signature, wrong kind, a name already
 * in `set` for that kind, a NULL or too-old ops table, create() failing. On failure returns NULL
 * and err holds one line naming the file and the reason. On success the plugin is added to set.
 */
struct plugin *plugin_load(struct plugin_set *set, const char *path, int kind,
                           const struct cfg_option *options, size_t n_options, char *err,
                           size_t errlen);

/* What --check-config does instead of plugin_load(): every check of plugin_load() that needs
 * no plugin code, then (storage plugins that have it) the plugin's validate_options() with
 * `options` — no create(), nothing connects, nothing is kept. 0, or -1 with err set. */
int plugin_check(const struct plugin_set *set, const char *path, int kind,
                 const struct cfg_option *options, size_t n_options, char *err, size_t errlen);

/* The plugin of `kind` named `name`, or NULL. */
struct plugin *plugin_find(const struct plugin_set *set, int kind, const char *name);

/* destroy() one instance, dlclose it and drop it from the set. */
void plugin_unload(struct plugin_set *set, struct plugin *p);

/* destroy() every instance and dlclose, in reverse load order. */
void plugin_set_unload(struct plugin_set *set);

/* The directory plugins are found in by default: <dir of /proc/self/exe>/plugins when it
 * exists (build tree), else <dir of /proc/self/exe>/../lib/cp/plugins (an installed tree,
 * wherever it was installed), else the configure-time prefix's lib/cp/plugins. malloc'd. */
char *plugin_default_dir(void);

/* Fill a host-services table (implemented in host.c; the loader calls it for each instance).
 * Timers and event_base() use the loop set with host_set_event_base(); without one (unit tests
 * of pure plugins) event_base() returns NULL and timer_add() returns NULL. */
void host_init(struct cp_host *host, struct plugin *owner);
void host_set_event_base(struct event_base *base);
/* Free `owner`'s timers still pending (a plugin that forgot to cancel them in destroy()), so
 * none can fire into an unloaded .so. plugin_set_unload() calls it after destroy(). */
void host_release(struct plugin *owner);

#endif
