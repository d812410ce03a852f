/* config_internal.h — what config.c, config_yaml.c and config_args.c share: the table of scalar
 * keys (one row per YAML key / environment variable) and the setters that check a value before
 * storing it. Internal to the configuration module. */
#ifndef CORE_CONFIG_INTERNAL_H
#define CORE_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum cfg_type {
    CT_LISTEN,   /* host:port */
    CT_DIR,      /* a directory; null = the default */
    CT_PLUGIN,   /* a bare plugin name or a path to a .so */
    CT_NAME,     /* a bare plugin name */
    CT_FALLBACK, /* memory | none (null) */
    CT_SECONDS,  /* int64_t ms, from seconds > 0 with fractions */
    CT_COUNT,    /* uint32_t in [min, max] */
    CT_SIZE,     /* size_t in [min, max] */
    CT_BOOL,     /* int 0/1 */
    CT_LOGLEVEL, /* int enum cp_log_level */
    CT_BACKOFF,  /* int enum cp_backoff_type: none | fixed | exponential */
};

struct cfg_key {
    const char *path; /* YAML key path, e.g. "tasks.timeout_seconds" */
    const char *env;  /* environment variable, or NULL */
    enum cfg_type type;
    size_t offset;     /* of the member in struct cp_config */
    uint64_t min, max; /* CT_COUNT/CT_SIZE bounds; CT_SECONDS: max 1 = 0 allowed (off) */
};

extern const struct cfg_key cfg_keys[];
extern const size_t cfg_n_keys;

/* The row for a YAML path, or NULL. */
const struct cfg_key *cfg_key_by_path(const char *path);

/* Check `value` for key `k` and store it. `name` is what the user wrote (key path, variable or
 * flag) and `where` says where ("" or " in FILE (line N)"); both go into the error message.
 * value NULL = YAML null. 0, or -1 with err set (cfg unchanged). */
int cfg_set(struct cp_config *cfg, const struct cfg_key *k, const char *name, const char *value,
            const char *where, char *err, size_t errlen);

/* Append a plugin spec to a list (selection or probe plugins). Errors: bad spec, duplicate,
 * list full. `name` is e.g. "selection.plugins[2]". */
int cfg_add_plugin(struct cfg_plugin_ref *list, size_t *n, const char *spec, const char *name,
                   const char *where, char *err, size_t errlen);
void cfg_clear_plugins(struct cfg_plugin_ref *list, size_t *n);

/* config_tenants.c: tenants.list. cfg_yaml_tenants() takes a yaml_document_t / yaml_node_t
 * (declared void here so that this header needs no libyaml). */
void cfg_clear_tenants(struct cp_config *cfg);
void cfg_clone_tenants(struct cp_config *dst, const struct cp_config *src);
int cfg_yaml_tenants(void *doc, void *seq, struct cp_config *cfg, const char *file, char *err,
                     size_t errlen);

/* Add a token. `pos` names the entry without revealing the token ("auth.tokens[1]"). The role
 * is quoted in errors only when show_role is set (it came from its own field, so it cannot be
 * a piece of the secret). */
int cfg_add_token(struct cp_config *cfg, const char *token, const char *role, int show_role,
                  const char *pos, char *err, size_t errlen);
/* Same, from a "token:role" string (split at the last ':'; the role is never shown: with a
 * forgotten role it would be the tail of the token). */
int cfg_add_token_pair(struct cp_config *cfg, const char *pair, const char *pos, char *err,
                       size_t errlen);
void cfg_clear_tokens(struct cp_config *cfg);
/* CONTROL_PLANE_TOKENS's list (config_tokens.c): replaces cfg's tokens. */
int cfg_env_tokens(struct cp_config *cfg, const char *list, char *err, size_t errlen);
/* Bind token i to one more agent id or '*' pattern ("gpu-*"). Errors: not an agent token, a
 * bad pattern, too many. `pos` names the entry. */
int cfg_bind_token(struct cp_config *cfg, size_t i, const char *pattern, const char *pos, char *err,
                   size_t errlen);

/* Set (or replace) one storage option. */
int cfg_set_option(struct cp_config *cfg, const char *key, const char *value, const char *name,
                   const char *where, char *err, size_t errlen);
/* Set (or replace) one option of the last plugin added to a list (its `options` mapping). */
int cfg_set_plugin_option(struct cfg_plugin_ref *ref, const char *key, const char *value,
                          const char *name, const char *where, char *err, size_t errlen);

/* Deep copy, so a layer can be applied to a copy and committed only when all of it is valid.
 * 0, or -1 when out of memory (dst then holds nothing to free). */
int cfg_clone(struct cp_config *dst, const struct cp_config *src);

/* config_quotas.c: `quotas:` and `tasks.est_tokens:` (0, or -1 with err set). */
#include <yaml.h>
int cfg_walk_quotas(struct cp_config *cfg, yaml_document_t *doc, yaml_node_t *seq, const char *file,
                    char *err, size_t errlen);
int cfg_walk_est_tokens(struct cp_config *cfg, yaml_document_t *doc, yaml_node_t *map,
                        const char *file, char *err, size_t errlen);
void cfg_clear_quotas(struct cp_config *cfg);      /* quotas and est_tokens */
void cfg_clear_quotas_only(struct cp_config *cfg); /* quotas */
void cfg_clone_quotas(struct cp_config *dst, const struct cp_config *src);
/* 1 for an identifier in the configuration (quota ids, scopes, task types, tenants): 1-128 of
 * A-Z a-z 0-9 . _ : @ / - */
int config_id_ok(const char *s);

/* Split "host:port" ("[v6]:port" too). host gets the host without brackets. 0 or -1. */
int cfg_split_listen(const char *listen, char *host, size_t hostlen, int *port);

/* Pure parsers (config_parse.c). parse_* return the value or -1; *_ok return 1 when valid. */
int cfg_parse_uint(const char *s, uint64_t max, uint64_t *out); /* 0 or -1 */
int cfg_parse_bool(const char *s);
int cfg_parse_log_level(const char *s);
int cfg_bare_name_ok(const char *s);        /* [A-Za-z0-9_.-]+ */
int cfg_plugin_spec_ok(const char *s);      /* a bare name, or a path (has '/' or ends in .so) */
int cfg_host_is_loopback(const char *host); /* 127.x.y.z, localhost, ::1 */

/* A value as it may appear in an error message: at most ~60 chars, control chars as '?'. */
void cfg_quote(const char *value, char *out, size_t outlen);

/* ${VAR} expansion of one YAML value (config_expand.c): *out is a malloc'd copy with every
 * ${NAME} replaced by the environment variable NAME and "$$" by "$", or NULL when `in` has no
 * '$' (use it as is). A variable that is unset or empty is an error naming it; `where` (" in
 * FILE (line N)") goes into the message. 0, or -1 with err set. */
int cfg_expand(const char *in, const char *(*getenv_fn)(const char *), const char *where,
               char **out, char *err, size_t errlen);

/* Read a token from `path`: one line (a trailing newline is dropped), a regular file that
 * neither group nor others may access. *out is malloc'd (wipe it before freeing). `pos` names
 * the entry in errors. 0, or -1 with err set. */
int cfg_read_token_file(const char *path, const char *pos, char **out, char *err, size_t errlen);

/* Add "exec" to the probe plugins when exec probes are enabled and it is not listed yet. */
int cfg_add_exec_probe(struct cp_config *cfg, char *err, size_t errlen);

#endif
