/* config.h — cpd's configuration: built-in defaults < YAML file < environment < flags,
 * validated into one struct. Every bad value is reported with its key, the value and what is
 * allowed; nothing half-applied. */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CFG_MAX_PLUGINS 32
#define CFG_MAX_TOKENS 64
#define CFG_MAX_OPTIONS 32

enum cfg_role { ROLE_READER = 0, ROLE_AGENT = 1, ROLE_ADMIN = 2 };

#define CFG_MAX_BINDINGS 64

struct cfg_token {
    char *token;
    int role; /* enum cfg_role */
    /* ROLE_AGENT only: the agent ids this token may act as (exact ids, or patterns with '*');
     * none = any agent. */
    char **agents;
    uint32_t n_agents;
};

#define CFG_MAX_TENANTS 10000

/* A tenant of tenants.list (config_tenants.c). */
struct cfg_tenant {
    char *id;
    uint32_t weight;        /* >= 1 */
    uint32_t max_in_flight; /* 0 = no limit */
};

struct cfg_option {
    char *key;
    char *value;
};

struct cfg_plugin_ref {
    char *spec; /* a bare name (looked up in plugin_dir) or a path containing '/' */
    /* The entry's `options` ({plugin: ..., options: {...}}), handed to the plugin through
     * host->option(); NULL when it has none. At most CFG_MAX_OPTIONS. */
    struct cfg_option *options;
    size_t n_options;
};

/* tasks.est_tokens: the token estimate of tasks of one type submitted without est_tokens
 * ("*": every other type). */
#define CFG_MAX_EST 256
struct cfg_est {
    char *task_type;
    uint32_t input, max_output;
};

/* quotas: a provider quota declared in the file (config_quotas.c), put into the store at
 * start-up (docs/fleet.md). */
#define CFG_MAX_QUOTAS 64
struct cfg_quota {
    char *id, *provider, *model, *key_id; /* model, key_id: NULL = any */
    uint64_t rpm, tpm;                    /* 0: no limit */
    uint32_t max_in_flight;               /* 0: no limit */
};

struct cp_config {
    char *config_path; /* the YAML file read, or NULL */
    char *listen;      /* "host:port" */
    char *plugin_dir;  /* where bare plugin names are found; NULL = next to the binary */
    int plugins_strict_permissions; /* refuse plugins others could have written (1) */

    /* storage */
    char *storage;          /* memory | redis | path to .so */
    char *storage_fallback; /* NULL or "memory" */
    struct cfg_option storage_options[CFG_MAX_OPTIONS];
    size_t n_storage_options; /* includes url/prefix from REDIS_URL / CONTROL_PLANE_PREFIX */

    /* selection */
    char *selection_default;
    struct cfg_plugin_ref selection_plugins[CFG_MAX_PLUGINS];
    size_t n_selection_plugins;

    /* probes */
    struct cfg_plugin_ref probe_plugins[CFG_MAX_PLUGINS];
    size_t n_probe_plugins;
    int exec_probe_enabled;

    /* auth */
    struct cfg_token tokens[CFG_MAX_TOKENS];
    size_t n_tokens;
    int allow_anonymous;

    /* durations, in milliseconds (the file and environment give seconds, fractions allowed) */
    int64_t heartbeat_interval_ms; /* HEARTBEAT_INTERVAL 10 (advice to agents) */
    int64_t heartbeat_timeout_ms;  /* HEARTBEAT_TIMEOUT 30 */
    int64_t probe_interval_ms;     /* PROBE_INTERVAL 30 */
    int64_t probe_timeout_ms;      /* PROBE_TIMEOUT 10 */
    int64_t task_timeout_ms;       /* TASK_TIMEOUT 300 */
    int64_t cleanup_interval_ms;   /* CLEANUP_INTERVAL 60 */
    int64_t retention_ms;          /* tasks.retention_seconds 86400 */
    int64_t pass_over_ms;          /* tasks.pass_over_seconds 30 */
    uint32_t max_task_retries;     /* MAX_TASK_RETRIES 3 */
    uint32_t max_terminal;         /* tasks.max_terminal 100000 (0 = no cap) */
    /* tasks.retry_backoff: the default of tasks submitted without one */
    int backoff_type;       /* .type: none (default) | fixed | exponential (enum cp_backoff_type) */
    int64_t backoff_ms;     /* .seconds 1 */
    int64_t backoff_max_ms; /* .max_seconds 300 */
    int backoff_jitter;     /* .jitter false */
    /* prompt-cache affinity (docs/fleet.md) */
    int64_t affinity_ttl_ms;     /* tasks.affinity_ttl_seconds 600: of tasks that give none */
    int64_t affinity_max_ttl_ms; /* tasks.max_affinity_ttl_seconds 86400: the most a task gets */
    int64_t affinity_hold_ms;    /* tasks.affinity_hold_seconds 3: how long a new task with a
                                    warm agent is held for it (0: never held) */

    /* health */
    uint32_t unhealthy_threshold; /* health.unhealthy_threshold 3 */
    uint32_t recovery_threshold;  /* health.recovery_threshold 2 */
    int64_t slow_probe_ms;        /* health.slow_probe_ms 5000 */
    uint32_t failure_threshold;   /* circuit.failure_threshold 5 */
    int64_t cooldown_ms;          /* circuit.cooldown_seconds 30 */
    int64_t max_cooldown_ms;      /* circuit.max_cooldown_seconds 300 */

    /* limits */
    size_t max_body_bytes;      /* limits.max_body_bytes 1 MiB */
    uint32_t max_capabilities;  /* limits.max_capabilities 64 */
    uint32_t max_required_caps; /* limits.max_required_capabilities 32 */
    uint32_t max_connections;   /* limits.max_connections 10000: beyond it, 503 at accept */
    int64_t header_timeout_ms;  /* limits.header_timeout_seconds 10: a request's head + body */
    int64_t idle_timeout_ms;    /* limits.idle_timeout_seconds 60: keep-alive idle, slow I/O */

    /* the event stream (GET /events) */
    uint32_t events_history;     /* events.history 4096: events kept for Last-Event-ID */
    size_t events_client_buffer; /* events.client_buffer_bytes 1 MiB: a slow reader's limit */
    int64_t events_keepalive_ms; /* events.keepalive_seconds 15: comment when quiet */

    int log_level; /* log.level: debug|info|warn|error (info) */

    /* provider quotas (config_quotas.c) */
    struct cfg_est est_tokens[CFG_MAX_EST];
    size_t n_est_tokens;
    struct cfg_quota quotas[CFG_MAX_QUOTAS];
    size_t n_quotas;
    /* tenants (fair share) */
    int64_t tenant_aging_ms;    /* tenants.aging_seconds: 0 (absent) = no aging */
    struct cfg_tenant *tenants; /* tenants.list, given to the storage at start-up */
    size_t n_tenants;
};

/* The tasks.est_tokens entry for task_type (or "*"), or NULL. */
const struct cfg_est *config_est_tokens(const struct cp_config *cfg, const char *task_type);

/* Fill `cfg` with the built-in defaults. */
void config_defaults(struct cp_config *cfg);

/* Apply a YAML file. Unknown keys and bad values are errors. Returns 0, or -1 with a message
 * in err (key, value, what is allowed). */
int config_load_yaml(struct cp_config *cfg, const char *path, char *err, size_t errlen);
/* The same, with ${VAR} in values looked up through `getenv_fn` (config_load_yaml: getenv). */
int config_load_yaml_env(struct cp_config *cfg, const char *path,
                         const char *(*getenv_fn)(const char *), char *err, size_t errlen);

/* Apply the environment variables of docs/api.md (read through `getenv_fn`, normally getenv). */
int config_load_env(struct cp_config *cfg, const char *(*getenv_fn)(const char *), char *err,
                    size_t errlen);

/* Final checks across keys (e.g. the default strategy is among the loaded plugins' names is
 * checked later by the loader; here: listen address syntax, non-loopback without tokens). */
int config_validate(const struct cp_config *cfg, char *err, size_t errlen);

/* Parse argv: --config FILE, --listen ADDR, --check-config, --help, --version. Loads the YAML
 * (the given one, else ./cpd.yaml when present), then the environment, then the flags.
 * Returns 0 ok, 1 when the program should exit 0 (help/version printed), -1 on error.
 * `cfg` may be zeroed or hold a configuration (e.g. from config_defaults): it is freed and rebuilt
 * from the defaults. Always config_free() it afterwards, whatever the result. */
struct config_cli {
    int check_only;
};
int config_from_args(struct cp_config *cfg, struct config_cli *cli, int argc, char **argv,
                     const char *(*getenv_fn)(const char *), char *err, size_t errlen);

void config_free(struct cp_config *cfg);

/* Reloading (SIGHUP, config_reload.c), in two steps on a freshly built `next`:
 * config_reload_plan() gives every key that only a restart can change (listen, plugin_dir,
 * plugins_strict_permissions, storage.*, selection.plugins, probes.plugins, probes.exec.enabled)
 * its running value in `next`, naming the ones that differed in `restart` ("" when none); then
 * check `next` (config_validate) and only if it passes, config_reload_apply() moves every other
 * changed value into `cur` in place and lists them ("key old -> new", tokens by count only).
 * Pointers into `cur` (plugin options, strings of restart keys) stay valid. config_free(next)
 * afterwards. plan: 0, or -1 out of memory. */
int config_reload_plan(const struct cp_config *cur, struct cp_config *next, char *restart,
                       size_t restart_len);
void config_reload_apply(struct cp_config *cur, struct cp_config *next, char *changed,
                         size_t changed_len);

/* "role" name <-> enum cfg_role; -1 when unknown. */
int config_role_parse(const char *s);

/* Parse a duration in seconds ("30", "0.5") into ms; -1 when invalid or negative. */
int64_t config_parse_seconds(const char *s);

#endif
