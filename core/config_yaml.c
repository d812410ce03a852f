/* config_yaml.c — the YAML layer of the configuration: walks a libyaml document against the
 * schema (the key table plus a few lists and maps), so every unknown key and bad value is an
 * error naming the key path, the file and the line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config.h"
#include "config_internal.h"
#include "xalloc.h"

struct walk {
    yaml_document_t *doc;
    struct cp_config *cfg;
    const char *file;
    char *err;
    size_t errlen;
    const char *(*getenv_fn)(const char *);
};

/* Mappings that only hold other keys. */
static const char *const sections[] = {"storage",
                                       "selection",
                                       "probes",
                                       "probes.exec",
                                       "agents",
                                       "tasks",
                                       "health",
                                       "circuit",
                                       "auth",
                                       "limits",
                                       "events",
                                       "log",
                                       "tasks.retry_backoff",
                                       "tenants"};
/* Keys that hold a list or map rather than one value. */
static const char *const compound[] = {
    "storage.options", "selection.plugins", "probes.plugins", "auth.tokens",
    "quotas",          "tasks.est_tokens",  "tenants.list"};

static int in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0) return 1;
    return 0;
}

static void where_of(const struct walk *w, const yaml_node_t *node, char *buf, size_t len)
{
    snprintf(buf, len, " in %s (line %lu)", w->file, (unsigned long)node->start_mark.line + 1);
}

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* YAML's null: "~", "null" or nothing at all, unquoted. */
static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *type_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a value";
}

static int wrong_shape(struct walk *w, const char *path, const yaml_node_t *n, const char *want)
{
    char where[300];
    where_of(w, n, where, sizeof where);
    snprintf(w->err, w->errlen, "config: '%s'%s is %s; expected %s", path, where, type_name(n),
             want);
    return -1;
}

/* "unknown key 'tasks.timeot' in cpd.yaml (line 4); keys under tasks: timeout_seconds, ..." */
static int unknown_key(struct walk *w, const char *prefix, const char *path, const yaml_node_t *n)
{
    char where[300], known[512] = "";
    where_of(w, n, where, sizeof where);
    size_t plen = prefix ? strlen(prefix) + 1 : 0, used = 0;
    const char *cands[64];
    size_t nc = 0;
    for (size_t i = 0; i < cfg_n_keys && nc < 64; i++)
        cands[nc++] = cfg_keys[i].path;
    for (size_t i = 0; i < sizeof sections / sizeof *sections && nc < 64; i++)
        cands[nc++] = sections[i];
    for (size_t i = 0; i < sizeof compound / sizeof *compound && nc < 64; i++)
        cands[nc++] = compound[i];
    for (size_t i = 0; i < nc; i++) {
        const char *c = cands[i];
        if (plen && (strncmp(c, prefix, plen - 1) != 0 || c[plen - 1] != '.')) continue;
        const char *rest = c + plen;
        if (strchr(rest, '.')) continue; /* deeper than this mapping */
        int m = snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", rest);
        if (m < 0 || (size_t)m >= sizeof known - used) break;
        used += (size_t)m;
    }
    snprintf(w->err, w->errlen, "config: unknown key '%s'%s; known keys %s%s: %s", path, where,
             prefix ? "under " : "at the top level", prefix ? prefix : "", known);
    return -1;
}

/* A list option (e.g. redis' sentinels: [a, b]) as "a,b"; items may not contain ','. */
static int join_scalars(struct walk *w, const char *name, yaml_node_t *seq, char *out, size_t n)
{
    size_t off = 0;
    out[0] = '\0';
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        if (!item || item->type != YAML_SCALAR_NODE || strchr(scalar(item), ','))
            return wrong_shape(w, name, item ? item : seq, "a list of strings without ','");
        int wr = snprintf(out + off, n - off, "%s%s", off ? "," : "", scalar(item));
        if (wr < 0 || (size_t)wr >= n - off)
            return wrong_shape(w, name, seq, "a list shorter than 4096 bytes in all");
        off += (size_t)wr;
    }
    return 0;
}

/* One option of the storage plugin (ref NULL) or of the plugin entry `ref`. */
static int set_option(struct walk *w, struct cfg_plugin_ref *ref, const char *key,
                      const char *value, const char *name, const char *where)
{
    if (ref) return cfg_set_plugin_option(ref, key, value, name, where, w->err, w->errlen);
    return cfg_set_option(w->cfg, key, value, name, where, w->err, w->errlen);
}

/* storage.options, or the `options` of a plugin entry (ref): names to strings. */
static int walk_options(struct walk *w, const char *path, yaml_node_t *map,
                        struct cfg_plugin_ref *ref)
{
    if (is_null(map)) return 0;
    if (map->type != YAML_MAPPING_NODE)
        return wrong_shape(w, path, map, "a mapping of option names to values");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        char name[400], where[300];
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return wrong_shape(w, path, k ? k : map, "option names that are plain words");
        snprintf(name, sizeof name, "%s.%.100s", path, scalar(k));
        where_of(w, v, where, sizeof where);
        if (v->type == YAML_SEQUENCE_NODE) { /* a list of scalars reaches the plugin as "a,b" */
            char joined[4096];
            if (join_scalars(w, name, v, joined, sizeof joined) != 0) return -1;
            if (set_option(w, ref, scalar(k), joined, name, where) != 0) return -1;
            continue;
        }
        if (v->type != YAML_SCALAR_NODE)
            return wrong_shape(w, name, v, "a string, a number or a list of them");
        if (set_option(w, ref, scalar(k), scalar(v), name, where) != 0) return -1;
    }
    return 0;
}

/* One entry of selection.plugins / probes.plugins given as a mapping:
 * {plugin: <name or path>, options: {key: value, ...}} (like storage's plugin and options). */
static int walk_plugin_entry(struct walk *w, const char *name, yaml_node_t *map,
                             struct cfg_plugin_ref *list, size_t *n)
{
    yaml_node_t *spec = NULL, *options = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        const char *key = k ? scalar(k) : NULL;
        char where[300];
        if (key && v && strcmp(key, "plugin") == 0 && !spec) {
            spec = v;
        } else if (key && v && strcmp(key, "options") == 0 && !options) {
            options = v;
        } else {
            where_of(w, k ? k : map, where, sizeof where);
            snprintf(w->err, w->errlen,
                     "config: '%s'%s: unknown or repeated key '%.100s'; a plugin entry has "
                     "plugin and options",
                     name, where, key ? key : "?");
            return -1;
        }
    }
    char where[300], sub[160];
    where_of(w, spec ? spec : map, where, sizeof where);
    if (!spec || spec->type != YAML_SCALAR_NODE) {
        snprintf(w->err, w->errlen,
                 "config: '%s'%s needs 'plugin': a plugin name or path, e.g. {plugin: "
                 "lowest_latency, options: {unknown_latency_ms: 500}}",
                 name, where);
        return -1;
    }
    if (cfg_add_plugin(list, n, scalar(spec), name, where, w->err, w->errlen) != 0) return -1;
    snprintf(sub, sizeof sub, "%s.options", name);
    return options ? walk_options(w, sub, options, &list[*n - 1]) : 0;
}

static int walk_plugins(struct walk *w, const char *path, yaml_node_t *seq,
                        struct cfg_plugin_ref *list, size_t *n)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return wrong_shape(w, path, seq, "a list of plugin names or paths");
    cfg_clear_plugins(list, n);
    int idx = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, idx++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        char name[128], where[300];
        snprintf(name, sizeof name, "%s[%d]", path, idx);
        if (item && item->type == YAML_MAPPING_NODE) {
            if (walk_plugin_entry(w, name, item, list, n) != 0) return -1;
            continue;
        }
        if (!item || item->type != YAML_SCALAR_NODE)
            return wrong_shape(w, name, item ? item : seq,
                               "a plugin name or path, or {plugin: ..., options: {...}}");
        where_of(w, item, where, sizeof where);
        if (cfg_add_plugin(list, n, scalar(item), name, where, w->err, w->errlen) != 0) return -1;
    }
    return 0;
}

/* agents: [worker-7, "gpu-*"] (or one name) of the token just added. */
static int walk_bindings(struct walk *w, const char *pos, yaml_node_t *v)
{
    size_t i = w->cfg->n_tokens - 1;
    if (v->type == YAML_SCALAR_NODE && !is_null(v))
        return cfg_bind_token(w->cfg, i, scalar(v), pos, w->err, w->errlen);
    if (v->type != YAML_SEQUENCE_NODE ||
        v->data.sequence.items.start == v->data.sequence.items.top) {
        snprintf(w->err, w->errlen,
                 "config: %s: agents must be a non-empty list of agent ids or patterns, e.g. "
                 "[worker-7, \"gpu-*\"]",
                 pos);
        return -1;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        if (!item || item->type != YAML_SCALAR_NODE) {
            snprintf(w->err, w->errlen, "config: %s: agents must list agent ids or patterns", pos);
            return -1;
        }
        if (cfg_bind_token(w->cfg, i, scalar(item), pos, w->err, w->errlen) != 0) return -1;
    }
    return 0;
}

/* auth.tokens: [{token: ..., role: ..., agents: [...]}, "token:role", ...] */
static int walk_tokens(struct walk *w, const char *path, yaml_node_t *seq)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return wrong_shape(w, path, seq, "a list of {token, role} or \"token:role\"");
    cfg_clear_tokens(w->cfg);
    int idx = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, idx++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, *it);
        char pos[700], where[300];
        if (!item) return wrong_shape(w, path, seq, "a list");
        where_of(w, item, where, sizeof where);
        snprintf(pos, sizeof pos, "%s[%d]%s", path, idx, where);
        if (item->type == YAML_SCALAR_NODE) {
            if (cfg_add_token_pair(w->cfg, scalar(item), pos, w->err, w->errlen) != 0) return -1;
            continue;
        }
        if (item->type != YAML_MAPPING_NODE) {
            snprintf(w->err, w->errlen, "config: %s is a list; expected {token, role}", pos);
            return -1;
        }
        const char *token = NULL, *role = NULL, *file = NULL;
        yaml_node_t *agents = NULL;
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
            yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
            const char *ks = k ? scalar(k) : NULL;
            const char **slot = !ks                             ? NULL
                                : strcmp(ks, "token") == 0      ? &token
                                : strcmp(ks, "token_file") == 0 ? &file
                                : strcmp(ks, "role") == 0       ? &role
                                                                : NULL;
            if (ks && v && strcmp(ks, "agents") == 0) {
                agents = v;
                continue;
            }
            if (!slot || !v) {
                snprintf(w->err, w->errlen,
                         "config: %s has an unknown key '%.60s'; expected token (or token_file), "
                         "role and agents",
                         pos, ks ? ks : "?");
                return -1;
            }
            if (v->type != YAML_SCALAR_NODE) {
                snprintf(w->err, w->errlen, "config: %s: %s must be a string", pos, ks);
                return -1;
            }
            *slot = scalar(v);
        }
        if (token && file) {
            snprintf(w->err, w->errlen, "config: %s has both token and token_file; give one", pos);
            return -1;
        }
        char *from_file = NULL;
        if (file && cfg_read_token_file(file, pos, &from_file, w->err, w->errlen) != 0) return -1;
        int rc =
            cfg_add_token(w->cfg, from_file ? from_file : token, role, 1, pos, w->err, w->errlen);
        if (from_file) {
            memset(from_file, 0, strlen(from_file));
            free(from_file);
        }
        if (rc != 0) return -1;
        if (agents && walk_bindings(w, pos, agents) != 0) return -1;
    }
    return 0;
}

/* ${VAR} in every value (not in keys), before any value is checked. A replaced value may be a
 * secret: the old text is freed, the new one is wiped by wipe_document(). */
static int expand_document(struct walk *w)
{
    for (yaml_node_t *n = w->doc->nodes.start; n < w->doc->nodes.top; n++) {
        if (n->type != YAML_MAPPING_NODE) continue;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
            if (k && k->type == YAML_SCALAR_NODE) k->data.scalar.style = YAML_ANY_SCALAR_STYLE;
        }
    }
    for (yaml_node_t *n = w->doc->nodes.start; n < w->doc->nodes.top; n++) {
        /* Keys were marked above (libyaml never reports YAML_ANY_SCALAR_STYLE itself). */
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style == YAML_ANY_SCALAR_STYLE) continue;
        char where[300], *out;
        where_of(w, n, where, sizeof where);
        if (cfg_expand((const char *)n->data.scalar.value, w->getenv_fn, where, &out, w->err,
                       w->errlen) != 0)
            return -1;
        if (!out) continue;
        free(n->data.scalar.value);
        n->data.scalar.value = (yaml_char_t *)out;
        n->data.scalar.length = strlen(out);
    }
    return 0;
}

static void wipe_document(yaml_document_t *doc)
{
    for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
            memset(n->data.scalar.value, 0, n->data.scalar.length);
}

static int walk_mapping(struct walk *w, const char *prefix, yaml_node_t *map)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        if (!k || !v) return wrong_shape(w, prefix ? prefix : "(top level)", map, "a mapping");
        if (k->type != YAML_SCALAR_NODE)
            return wrong_shape(w, prefix ? prefix : "(top level)", k, "plain keys");
        char path[256];
        int m = snprintf(path, sizeof path, "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                         scalar(k));
        if (m < 0 || (size_t)m >= sizeof path) return unknown_key(w, prefix, path, k);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *qk = yaml_document_get_node(w->doc, q->key);
            if (qk && qk->type == YAML_SCALAR_NODE && strcmp(scalar(qk), scalar(k)) == 0) {
                char where[300];
                where_of(w, k, where, sizeof where);
                snprintf(w->err, w->errlen, "config: key '%s' appears twice%s", path, where);
                return -1;
            }
        }
        const struct cfg_key *key = cfg_key_by_path(path);
        int rc;
        if (key) {
            if (v->type != YAML_SCALAR_NODE) return wrong_shape(w, path, v, "a single value");
            char where[300];
            where_of(w, v, where, sizeof where);
            rc =
                cfg_set(w->cfg, key, path, is_null(v) ? NULL : scalar(v), where, w->err, w->errlen);
        } else if (strcmp(path, "storage.options") == 0) {
            rc = walk_options(w, path, v, NULL);
        } else if (strcmp(path, "selection.plugins") == 0) {
            rc = walk_plugins(w, path, v, w->cfg->selection_plugins, &w->cfg->n_selection_plugins);
        } else if (strcmp(path, "probes.plugins") == 0) {
            rc = walk_plugins(w, path, v, w->cfg->probe_plugins, &w->cfg->n_probe_plugins);
        } else if (strcmp(path, "auth.tokens") == 0) {
            rc = is_null(v) ? (cfg_clear_tokens(w->cfg), 0) : walk_tokens(w, path, v);
        } else if (strcmp(path, "quotas") == 0) {
            rc = is_null(v) ? (cfg_clear_quotas_only(w->cfg), 0)
                            : cfg_walk_quotas(w->cfg, w->doc, v, w->file, w->err, w->errlen);
        } else if (strcmp(path, "tasks.est_tokens") == 0) {
            rc =
                is_null(v) ? 0 : cfg_walk_est_tokens(w->cfg, w->doc, v, w->file, w->err, w->errlen);
        } else if (strcmp(path, "tenants.list") == 0) {
            rc = is_null(v) ? (cfg_clear_tenants(w->cfg), 0)
                            : cfg_yaml_tenants(w->doc, v, w->cfg, w->file, w->err, w->errlen);
        } else if (in_list(sections, sizeof sections / sizeof *sections, path)) {
            if (is_null(v)) continue; /* "tasks:" with nothing under it */
            if (v->type != YAML_MAPPING_NODE) return wrong_shape(w, path, v, "a mapping");
            rc = walk_mapping(w, path, v);
        } else {
            return unknown_key(w, prefix, path, k);
        }
        if (rc != 0) return -1;
    }
    return 0;
}

static const char *real_getenv(const char *name)
{
    return getenv(name);
}

int config_load_yaml(struct cp_config *cfg, const char *path, char *err, size_t errlen)
{
    return config_load_yaml_env(cfg, path, real_getenv, err, errlen);
}

int config_load_yaml_env(struct cp_config *cfg, const char *path,
                         const char *(*getenv_fn)(const char *), char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "config: cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, errlen, "config: out of memory reading %s", path);
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "config: %s is not valid YAML: %s at line %lu, column %lu", path,
                 parser.problem ? parser.problem : "parse error",
                 (unsigned long)parser.problem_mark.line + 1,
                 (unsigned long)parser.problem_mark.column + 1);
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    yaml_parser_delete(&parser);
    fclose(f);

    /* Apply to a copy; commit only when the whole file is valid. */
    struct cp_config next;
    cfg_clone(&next, cfg);
    struct walk w = {&doc, &next, path, err, errlen, getenv_fn ? getenv_fn : real_getenv};
    int rc = expand_document(&w);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (rc == 0 && root && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE)
            rc = wrong_shape(&w, "(top level)", root, "a mapping of keys, e.g. 'listen: ...'");
        else
            rc = walk_mapping(&w, NULL, root);
    }
    if (rc == 0) rc = cfg_add_exec_probe(&next, err, errlen);
    wipe_document(&doc);
    yaml_document_delete(&doc);
    if (rc != 0) {
        config_free(&next);
        return -1;
    }
    free(next.config_path);
    next.config_path = xstrdup(path);
    config_free(cfg);
    *cfg = next;
    return 0;
}
