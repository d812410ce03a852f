/* config.c — cpd's configuration: built-in defaults, the table of scalar keys and the checks
 * every value passes before it is stored, the environment layer and the final cross-key
 * validation. The YAML layer is config_yaml.c, the command line config_args.c, the value
 * parsers config_parse.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cp/plugin.h>
#include <cp/types.h>

#include "config_internal.h"
#include "xalloc.h"

#define OFF(member) offsetof(struct cp_config, member)

const struct cfg_key cfg_keys[] = {
    {"listen", "CONTROL_PLANE_LISTEN", CT_LISTEN, OFF(listen), 0, 0},
    {"plugin_dir", "CONTROL_PLANE_PLUGIN_DIR", CT_DIR, OFF(plugin_dir), 0, 0},
    {"plugins_strict_permissions", "CONTROL_PLANE_PLUGINS_STRICT_PERMISSIONS", CT_BOOL,
     OFF(plugins_strict_permissions), 0, 0},
    {"storage.plugin", "CONTROL_PLANE_STORAGE", CT_PLUGIN, OFF(storage), 0, 0},
    {"storage.fallback", NULL, CT_FALLBACK, OFF(storage_fallback), 0, 0},
    {"selection.default", NULL, CT_NAME, OFF(selection_default), 0, 0},
    {"probes.interval_seconds", "PROBE_INTERVAL", CT_SECONDS, OFF(probe_interval_ms), 0, 0},
    {"probes.timeout_seconds", "PROBE_TIMEOUT", CT_SECONDS, OFF(probe_timeout_ms), 0, 0},
    {"probes.exec.enabled", NULL, CT_BOOL, OFF(exec_probe_enabled), 0, 0},
    {"agents.heartbeat_interval_seconds", "HEARTBEAT_INTERVAL", CT_SECONDS,
     OFF(heartbeat_interval_ms), 0, 0},
    {"agents.heartbeat_timeout_seconds", "HEARTBEAT_TIMEOUT", CT_SECONDS, OFF(heartbeat_timeout_ms),
     0, 0},
    {"agents.cleanup_interval_seconds", "CLEANUP_INTERVAL", CT_SECONDS, OFF(cleanup_interval_ms), 0,
     0},
    {"tasks.timeout_seconds", "TASK_TIMEOUT", CT_SECONDS, OFF(task_timeout_ms), 0, 0},
    {"tasks.max_retries", "MAX_TASK_RETRIES", CT_COUNT, OFF(max_task_retries), 0, 1000},
    {"tasks.retention_seconds", NULL, CT_SECONDS, OFF(retention_ms), 0, 0},
    {"tasks.pass_over_seconds", NULL, CT_SECONDS, OFF(pass_over_ms), 0, 0},
    {"tasks.max_terminal", NULL, CT_COUNT, OFF(max_terminal), 0, 1000000000},
    {"tasks.retry_backoff.type", NULL, CT_BACKOFF, OFF(backoff_type), 0, 0},
    {"tasks.retry_backoff.seconds", NULL, CT_SECONDS, OFF(backoff_ms), 0, 0},
    {"tasks.retry_backoff.max_seconds", NULL, CT_SECONDS, OFF(backoff_max_ms), 0, 0},
    {"tasks.retry_backoff.jitter", NULL, CT_BOOL, OFF(backoff_jitter), 0, 0},
    {"tasks.affinity_ttl_seconds", NULL, CT_SECONDS, OFF(affinity_ttl_ms), 0, 0},
    {"tasks.max_affinity_ttl_seconds", NULL, CT_SECONDS, OFF(affinity_max_ttl_ms), 0, 0},
    /* CT_SECONDS with max 1: 0 is allowed too (here: never hold) */
    {"tasks.affinity_hold_seconds", NULL, CT_SECONDS, OFF(affinity_hold_ms), 0, 1},
    {"health.unhealthy_threshold", NULL, CT_COUNT, OFF(unhealthy_threshold), 1, 1000},
    {"health.recovery_threshold", NULL, CT_COUNT, OFF(recovery_threshold), 1, 1000},
    {"health.slow_probe_seconds", NULL, CT_SECONDS, OFF(slow_probe_ms), 0, 0},
    {"circuit.failure_threshold", NULL, CT_COUNT, OFF(failure_threshold), 1, 1000},
    {"circuit.cooldown_seconds", NULL, CT_SECONDS, OFF(cooldown_ms), 0, 0},
    {"circuit.max_cooldown_seconds", NULL, CT_SECONDS, OFF(max_cooldown_ms), 0, 0},
    {"auth.allow_anonymous", NULL, CT_BOOL, OFF(allow_anonymous), 0, 0},
    {"limits.max_body_bytes", NULL, CT_SIZE, OFF(max_body_bytes), 1024, 1073741824},
    {"limits.max_capabilities", NULL, CT_COUNT, OFF(max_capabilities), 1, 4096},
    {"limits.max_required_capabilities", NULL, CT_COUNT, OFF(max_required_caps), 1, 4096},
    {"limits.max_connections", NULL, CT_COUNT, OFF(max_connections), 1, 1000000},
    {"limits.header_timeout_seconds", NULL, CT_SECONDS, OFF(header_timeout_ms), 0, 0},
    {"limits.idle_timeout_seconds", NULL, CT_SECONDS, OFF(idle_timeout_ms), 0, 0},
    {"events.history", NULL, CT_COUNT, OFF(events_history), 1, 1000000},
    {"events.client_buffer_bytes", NULL, CT_SIZE, OFF(events_client_buffer), 4096, 1073741824},
    {"events.keepalive_seconds", NULL, CT_SECONDS, OFF(events_keepalive_ms), 0, 0},
    {"log.level", "CONTROL_PLANE_LOG_LEVEL", CT_LOGLEVEL, OFF(log_level), 0, 0},
    {"tenants.aging_seconds", NULL, CT_SECONDS, OFF(tenant_aging_ms), 0, 0},
};
const size_t cfg_n_keys = sizeof cfg_keys / sizeof cfg_keys[0];

static void set_str(char **dst, const char *value)
{
    char *v = xstrdup(value);
    free(*dst);
    *dst = v;
}

void config_defaults(struct cp_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen = xstrdup("127.0.0.1:8080");
    cfg->storage = xstrdup("memory");
    cfg->plugins_strict_permissions = 1;
    cfg->selection_default = xstrdup("least_loaded");
    static const char *const selection[] = {"least_loaded", "round_robin", "random", "affinity",
                                            "headroom"};
    for (size_t i = 0; i < 5; i++)
        cfg->selection_plugins[cfg->n_selection_plugins++].spec = xstrdup(selection[i]);
    static const char *const probes[] = {"http", "tcp"};
    for (size_t i = 0; i < 2; i++)
        cfg->probe_plugins[cfg->n_probe_plugins++].spec = xstrdup(probes[i]);
    cfg->heartbeat_interval_ms = 10000;
    cfg->heartbeat_timeout_ms = 30000;
    cfg->probe_interval_ms = 30000;
    cfg->probe_timeout_ms = 10000;
    cfg->task_timeout_ms = 300000;
    cfg->cleanup_interval_ms = 60000;
    cfg->retention_ms = 86400000;
    cfg->pass_over_ms = 30000;
    cfg->max_task_retries = 3;
    cfg->max_terminal = 100000;
    cfg->backoff_type = CP_BACKOFF_NONE;
    cfg->backoff_ms = 1000;
    cfg->backoff_max_ms = 300000;
    cfg->affinity_ttl_ms = 600000;
    cfg->affinity_max_ttl_ms = 86400000;
    cfg->affinity_hold_ms = 3000;
    cfg->unhealthy_threshold = 3;
    cfg->recovery_threshold = 2;
    cfg->slow_probe_ms = 5000;
    cfg->failure_threshold = 5;
    cfg->cooldown_ms = 30000;
    cfg->max_cooldown_ms = 300000;
    cfg->max_body_bytes = 1048576;
    cfg->max_capabilities = 64;
    cfg->max_required_caps = 32;
    cfg->max_connections = 10000;
    cfg->header_timeout_ms = 10000;
    cfg->idle_timeout_ms = 60000;
    cfg->events_history = 4096;
    cfg->events_client_buffer = 1048576;
    cfg->events_keepalive_ms = 15000;
    cfg->log_level = CP_LOG_INFO;
}

static void options_free(struct cfg_option *opts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(opts[i].key);
        free(opts[i].value);
    }
}

void cfg_clear_plugins(struct cfg_plugin_ref *list, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        free(list[i].spec);
        options_free(list[i].options, list[i].n_options);
        free(list[i].options);
        list[i] = (struct cfg_plugin_ref){0};
    }
    *n = 0;
}

void config_free(struct cp_config *cfg)
{
    if (!cfg) return;
    free(cfg->config_path);
    free(cfg->listen);
    free(cfg->plugin_dir);
    free(cfg->storage);
    free(cfg->storage_fallback);
    options_free(cfg->storage_options, cfg->n_storage_options);
    free(cfg->selection_default);
    cfg_clear_plugins(cfg->selection_plugins, &cfg->n_selection_plugins);
    cfg_clear_plugins(cfg->probe_plugins, &cfg->n_probe_plugins);
    cfg_clear_tokens(cfg);
    cfg_clear_quotas(cfg);
    cfg_clear_tenants(cfg);
    memset(cfg, 0, sizeof *cfg);
}

static void plugin_ref_clone(struct cfg_plugin_ref *dst, const struct cfg_plugin_ref *src)
{
    dst->spec = xstrdup(src->spec);
    dst->options = NULL;
    dst->n_options = src->n_options;
    if (!src->options) return;
    dst->options = xcalloc(CFG_MAX_OPTIONS, sizeof *dst->options);
    for (size_t i = 0; i < src->n_options; i++) {
        dst->options[i].key = xstrdup(src->options[i].key);
        dst->options[i].value = xstrdup(src->options[i].value);
    }
}

int cfg_clone(struct cp_config *dst, const struct cp_config *src)
{
    *dst = *src;
    dst->config_path = xstrdup(src->config_path);
    dst->listen = xstrdup(src->listen);
    dst->plugin_dir = xstrdup(src->plugin_dir);
    dst->storage = xstrdup(src->storage);
    dst->storage_fallback = xstrdup(src->storage_fallback);
    dst->selection_default = xstrdup(src->selection_default);
    for (size_t i = 0; i < src->n_storage_options; i++) {
        dst->storage_options[i].key = xstrdup(src->storage_options[i].key);
        dst->storage_options[i].value = xstrdup(src->storage_options[i].value);
    }
    for (size_t i = 0; i < src->n_selection_plugins; i++)
        plugin_ref_clone(&dst->selection_plugins[i], &src->selection_plugins[i]);
    for (size_t i = 0; i < src->n_probe_plugins; i++)
        plugin_ref_clone(&dst->probe_plugins[i], &src->probe_plugins[i]);
    cfg_clone_tenants(dst, src);
    for (size_t i = 0; i < src->n_tokens; i++) {
        dst->tokens[i].token = xstrdup(src->tokens[i].token);
        uint32_t n = src->tokens[i].n_agents;
        dst->tokens[i].agents = n ? calloc(n, sizeof(char *)) : NULL;
        if (n && !dst->tokens[i].agents) {
            fputs("cpd: out of memory reading the configuration\n", stderr);
            abort();
        }
        for (uint32_t j = 0; j < n; j++)
            dst->tokens[i].agents[j] = xstrdup(src->tokens[i].agents[j]);
    }
    cfg_clone_quotas(dst, src);
    return 0;
}

static int bad_value(char *err, size_t errlen, const char *name, const char *value,
                     const char *where, const char *what)
{
    char q[80];
    cfg_quote(value ? value : "", q, sizeof q);
    snprintf(err, errlen, "config: %s='%s'%s %s", name, q, where, what);
    return -1;
}

const struct cfg_key *cfg_key_by_path(const char *path)
{
    for (size_t i = 0; i < cfg_n_keys; i++)
        if (strcmp(cfg_keys[i].path, path) == 0) return &cfg_keys[i];
    return NULL;
}

int cfg_set(struct cp_config *cfg, const struct cfg_key *k, const char *name, const char *value,
            const char *where, char *err, size_t errlen)
{
    char *base = (char *)cfg + k->offset;
    char buf[160];
    uint64_t u;
    int v;
    switch (k->type) {
    case CT_LISTEN: {
        char host[256];
        int port;
        if (!value || cfg_split_listen(value, host, sizeof host, &port) != 0)
            return bad_value(err, errlen, name, value, where,
                             "is not a listen address; expected host:port with port 1-65535, "
                             "e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080");
        set_str((char **)base, value);
        return 0;
    }
    case CT_DIR:
        if (value && !*value)
            return bad_value(err, errlen, name, value, where,
                             "is empty; expected a directory (or leave the key out)");
        set_str((char **)base, value);
        return 0;
    case CT_PLUGIN:
        if (!value || !cfg_plugin_spec_ok(value))
            return bad_value(err, errlen, name, value, where,
                             "is not a plugin; expected a name such as memory or redis, or a "
                             "path to a .so");
        set_str((char **)base, value);
        return 0;
    case CT_NAME:
        if (!value || !cfg_bare_name_ok(value))
            return bad_value(err, errlen, name, value, where,
                             "is not a plugin name; expected letters, digits, '_', '-' or '.', "
                             "e.g. least_loaded");
        set_str((char **)base, value);
        return 0;
    case CT_FALLBACK:
        if (!value || strcasecmp(value, "none") == 0) {
            set_str((char **)base, NULL);
            return 0;
        }
        if (strcmp(value, "memory") != 0)
            return bad_value(err, errlen, name, value, where,
                             "is not a fallback store; expected memory or none");
        set_str((char **)base, value);
        return 0;
    case CT_SECONDS: {
        int64_t ms = config_parse_seconds(value);
        if (ms == 0 && k->max == 1) { /* a duration that may be 0 (off) */
            *(int64_t *)base = 0;
            return 0;
        }
        if (ms <= 0)
            return bad_value(err, errlen, name, value, where,
                             "is not a duration; expected seconds > 0, e.g. 30 or 0.5");
        *(int64_t *)base = ms;
        return 0;
    }
    case CT_COUNT:
    case CT_SIZE:
        if (!value || cfg_parse_uint(value, k->max, &u) != 0 || u < k->min) {
            snprintf(buf, sizeof buf, "is not allowed; expected a whole number from %llu to %llu",
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return bad_value(err, errlen, name, value, where, buf);
        }
        if (k->type == CT_COUNT)
            *(uint32_t *)base = (uint32_t)u;
        else
            *(size_t *)base = (size_t)u;
        return 0;
    case CT_BOOL:
        if (!value || (v = cfg_parse_bool(value)) < 0)
            return bad_value(err, errlen, name, value, where,
                             "is not a boolean; expected true or false");
        *(int *)base = v;
        return 0;
    case CT_LOGLEVEL:
        if (!value || (v = cfg_parse_log_level(value)) < 0)
            return bad_value(err, errlen, name, value, where,
                             "is not a log level; expected debug, info, warn or error");
        *(int *)base = v;
        return 0;
    case CT_BACKOFF:
        if (!value || (v = cp_enum_parse(cp_backoff_type_names, CP_BACKOFF_TYPE_COUNT, value)) < 0)
            return bad_value(err, errlen, name, value, where,
                             "is not a backoff type; expected none, fixed or exponential");
        *(int *)base = v;
        return 0;
    }
    return bad_value(err, errlen, name, value, where, "has an unknown type");
}

int cfg_add_plugin(struct cfg_plugin_ref *list, size_t *n, const char *spec, const char *name,
                   const char *where, char *err, size_t errlen)
{
    if (!spec || !cfg_plugin_spec_ok(spec))
        return bad_value(err, errlen, name, spec, where,
                         "is not a plugin; expected a bare name such as least_loaded, or a "
                         "path to a .so");
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i].spec, spec) == 0)
            return bad_value(err, errlen, name, spec, where, "is listed twice");
    if (*n >= CFG_MAX_PLUGINS) {
        char buf[64];
        snprintf(buf, sizeof buf, "is one plugin too many; at most %d per list", CFG_MAX_PLUGINS);
        return bad_value(err, errlen, name, spec, where, buf);
    }
    list[(*n)++].spec = xstrdup(spec);
    return 0;
}

int cfg_add_exec_probe(struct cp_config *cfg, char *err, size_t errlen)
{
    if (!cfg->exec_probe_enabled) return 0;
    for (size_t i = 0; i < cfg->n_probe_plugins; i++)
        if (strcmp(cfg->probe_plugins[i].spec, "exec") == 0) return 0;
    return cfg_add_plugin(cfg->probe_plugins, &cfg->n_probe_plugins, "exec", "probes.plugins",
                          " (added by probes.exec.enabled)", err, errlen);
}

/* Error messages about tokens name the entry's position, never the token. */
static int option_put(struct cfg_option *list, size_t *n, const char *key, const char *value,
                      const char *name, const char *where, char *err, size_t errlen)
{
    if (!key || !cfg_bare_name_ok(key))
        return bad_value(err, errlen, name, key, where,
                         "is not an option name; expected letters, digits, '_', '-' or '.'");
    if (!value) return bad_value(err, errlen, name, value, where, "is empty; expected a value");
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(list[i].key, key) == 0) {
            set_str(&list[i].value, value);
            return 0;
        }
    }
    if (*n >= CFG_MAX_OPTIONS) {
        char buf[64];
        snprintf(buf, sizeof buf, "is one option too many; at most %d", CFG_MAX_OPTIONS);
        return bad_value(err, errlen, name, key, where, buf);
    }
    struct cfg_option *o = &list[(*n)++];
    o->key = xstrdup(key);
    o->value = xstrdup(value);
    return 0;
}

int cfg_set_option(struct cp_config *cfg, const char *key, const char *value, const char *name,
                   const char *where, char *err, size_t errlen)
{
    return option_put(cfg->storage_options, &cfg->n_storage_options, key, value, name, where, err,
                      errlen);
}

int cfg_set_plugin_option(struct cfg_plugin_ref *ref, const char *key, const char *value,
                          const char *name, const char *where, char *err, size_t errlen)
{
    if (!ref->options) ref->options = xcalloc(CFG_MAX_OPTIONS, sizeof *ref->options);
    return option_put(ref->options, &ref->n_options, key, value, name, where, err, errlen);
}

int config_load_env(struct cp_config *cfg, const char *(*getenv_fn)(const char *), char *err,
                    size_t errlen)
{
    struct cp_config next;
    cfg_clone(&next, cfg);
    int rc = 0;
    /* An empty variable counts as unset (FOO= cpd is how shells unset for one command). */
    for (size_t i = 0; i < cfg_n_keys && rc == 0; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        const char *v = k->env ? getenv_fn(k->env) : NULL;
        if (v && *v) rc = cfg_set(&next, k, k->env, v, "", err, errlen);
    }
    static const char *const option_env[][2] = {{"REDIS_URL", "url"},
                                                {"CONTROL_PLANE_PREFIX", "prefix"}};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        const char *v = getenv_fn(option_env[i][0]);
        if (v && *v)
            rc = cfg_set_option(&next, option_env[i][1], v, option_env[i][0], "", err, errlen);
    }
    const char *tokens = rc == 0 ? getenv_fn("CONTROL_PLANE_TOKENS") : NULL;
    if (tokens && *tokens) rc = cfg_env_tokens(&next, tokens, err, errlen);
    if (rc != 0) {
        config_free(&next);
        return -1;
    }
    config_free(cfg);
    *cfg = next;
    return 0;
}

static int exec_listed(const struct cp_config *cfg)
{
    for (size_t i = 0; i < cfg->n_probe_plugins; i++) {
        const char *s = cfg->probe_plugins[i].spec, *b = strrchr(s, '/');
        b = b ? b + 1 : s;
        if (strcmp(b, "exec") == 0 || strcmp(b, "exec.so") == 0) return 1;
    }
    return 0;
}

int config_validate(const struct cp_config *cfg, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (!cfg->listen || cfg_split_listen(cfg->listen, host, sizeof host, &port) != 0)
        return bad_value(err, errlen, "listen", cfg->listen, "",
                         "is not a listen address; expected host:port with port 1-65535");
    if (!cfg->storage || !*cfg->storage) {
        snprintf(err, errlen, "config: storage.plugin is empty; expected memory, redis or a path");
        return -1;
    }
    if (cfg->n_selection_plugins == 0) {
        snprintf(err, errlen,
                 "config: selection.plugins is empty; list at least one strategy, "
                 "e.g. [least_loaded, round_robin, random]");
        return -1;
    }
    if (!cfg->selection_default || !*cfg->selection_default) {
        snprintf(err, errlen, "config: selection.default is empty; expected a strategy name");
        return -1;
    }
    const struct {
        const char *name;
        int64_t ms;
    } durations[] = {{"agents.heartbeat_interval_seconds", cfg->heartbeat_interval_ms},
                     {"agents.heartbeat_timeout_seconds", cfg->heartbeat_timeout_ms},
                     {"agents.cleanup_interval_seconds", cfg->cleanup_interval_ms},
                     {"probes.interval_seconds", cfg->probe_interval_ms},
                     {"probes.timeout_seconds", cfg->probe_timeout_ms},
                     {"tasks.timeout_seconds", cfg->task_timeout_ms},
                     {"tasks.retention_seconds", cfg->retention_ms},
                     {"tasks.pass_over_seconds", cfg->pass_over_ms},
                     {"tasks.retry_backoff.seconds", cfg->backoff_ms},
                     {"tasks.retry_backoff.max_seconds", cfg->backoff_max_ms},
                     {"health.slow_probe_seconds", cfg->slow_probe_ms},
                     {"circuit.cooldown_seconds", cfg->cooldown_ms},
                     {"circuit.max_cooldown_seconds", cfg->max_cooldown_ms},
                     {"limits.header_timeout_seconds", cfg->header_timeout_ms},
                     {"limits.idle_timeout_seconds", cfg->idle_timeout_ms},
                     {"events.keepalive_seconds", cfg->events_keepalive_ms},
                     {"tasks.affinity_ttl_seconds", cfg->affinity_ttl_ms},
                     {"tasks.max_affinity_ttl_seconds", cfg->affinity_max_ttl_ms}};
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        if (durations[i].ms <= 0) {
            snprintf(err, errlen, "config: %s must be > 0 seconds", durations[i].name);
            return -1;
        }
    }
    if (cfg->affinity_hold_ms < 0 || cfg->affinity_hold_ms > 3600000) {
        snprintf(err, errlen, "config: tasks.affinity_hold_seconds must be 0-3600");
        return -1;
    }
    if (cfg->affinity_ttl_ms > cfg->affinity_max_ttl_ms) {
        snprintf(err, errlen,
                 "config: tasks.affinity_ttl_seconds must not exceed "
                 "tasks.max_affinity_ttl_seconds");
        return -1;
    }
    if (cfg->cooldown_ms > cfg->max_cooldown_ms) {
        snprintf(err, errlen,
                 "config: circuit.cooldown_seconds (%.3g) is longer than "
                 "circuit.max_cooldown_seconds (%.3g); the cooldown only grows up to the maximum",
                 cfg->cooldown_ms / 1000.0, cfg->max_cooldown_ms / 1000.0);
        return -1;
    }
    if (cfg->backoff_type == CP_BACKOFF_EXPONENTIAL && cfg->backoff_max_ms < cfg->backoff_ms) {
        snprintf(err, errlen,
                 "config: tasks.retry_backoff.max_seconds (%.3g) is shorter than "
                 "tasks.retry_backoff.seconds (%.3g); the delay only grows up to the maximum",
                 cfg->backoff_max_ms / 1000.0, cfg->backoff_ms / 1000.0);
        return -1;
    }
    if (cfg->unhealthy_threshold < 1 || cfg->recovery_threshold < 1 || cfg->failure_threshold < 1) {
        snprintf(err, errlen, "config: health and circuit thresholds must be at least 1");
        return -1;
    }
    if (exec_listed(cfg) && !cfg->exec_probe_enabled) {
        snprintf(err, errlen,
                 "config: probes.plugins lists exec but probes.exec.enabled is false; exec probes "
                 "let any registering client run commands here, so they must be enabled "
                 "explicitly with probes.exec.enabled: true");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_tokens; i++) {
        if (!cfg->tokens[i].token || !*cfg->tokens[i].token || cfg->tokens[i].role < ROLE_READER ||
            cfg->tokens[i].role > ROLE_ADMIN) {
            snprintf(err, errlen, "config: auth token %zu is empty or has an unknown role", i + 1);
            return -1;
        }
    }
    if (cfg->n_tokens == 0 && !cfg->allow_anonymous && !cfg_host_is_loopback(host)) {
        snprintf(err, errlen,
                 "config: refusing to listen on %s without authentication: no auth tokens are "
                 "configured, so anyone who can reach it could control the fleet. Add "
                 "auth.tokens (or CONTROL_PLANE_TOKENS=token:role,...), listen on 127.0.0.1, "
                 "or set auth.allow_anonymous: true to allow anonymous access explicitly",
                 cfg->listen);
        return -1;
    }
    return 0;
}
