/* config_quotas.c — the provider-quota keys of the configuration file: `quotas:` (a list of
 * {id, scope: {provider, model, key_id}, rpm, tpm, max_in_flight}) and `tasks.est_tokens:`
 * (task type -> {input, max_output}, "*" for every other type). Checked here, put into the
 * store at start-up by ops (docs/fleet.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "xalloc.h"

#define MAX_TOKENS_PER_TASK 100000000ull
#define MAX_RATE 1000000000000ull

static const char *scalar_of(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int bad(char *err, size_t errlen, const char *file, yaml_node_t *n, const char *fmt,
               const char *what)
{
    char where[300] = "";
    if (n)
        snprintf(where, sizeof where, " in %s (line %lu)", file,
                 (unsigned long)n->start_mark.line + 1);
    char msg[400];
    snprintf(msg, sizeof msg, fmt, what);
    snprintf(err, errlen, "config: %s%s", msg, where);
    return -1;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s) return -1;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || s[0] == '-' || v > max) return -1;
    *out = v;
    return 0;
}

/* 1-128 characters of A-Z a-z 0-9 . _ : @ / - (the identifiers of the API). */
int config_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 128) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._:@/-", c)))
            return 0;
    }
    return 1;
}

static void quota_free(struct cfg_quota *q)
{
    free(q->id), free(q->provider), free(q->model), free(q->key_id);
    memset(q, 0, sizeof *q);
}

void cfg_clear_quotas(struct cp_config *cfg)
{
    for (size_t i = 0; i < cfg->n_quotas; i++)
        quota_free(&cfg->quotas[i]);
    cfg->n_quotas = 0;
    for (size_t i = 0; i < cfg->n_est_tokens; i++)
        free(cfg->est_tokens[i].task_type);
    cfg->n_est_tokens = 0;
}

void cfg_clone_quotas(struct cp_config *dst, const struct cp_config *src)
{
    for (size_t i = 0; i < src->n_quotas; i++) {
        const struct cfg_quota *s = &src->quotas[i];
        struct cfg_quota *d = &dst->quotas[i];
        d->id = xstrdup(s->id);
        d->provider = xstrdup(s->provider);
        d->model = s->model ? xstrdup(s->model) : NULL;
        d->key_id = s->key_id ? xstrdup(s->key_id) : NULL;
    }
    for (size_t i = 0; i < src->n_est_tokens; i++)
        dst->est_tokens[i].task_type = xstrdup(src->est_tokens[i].task_type);
}

const struct cfg_est *config_est_tokens(const struct cp_config *cfg, const char *task_type)
{
    const struct cfg_est *star = NULL;
    for (size_t i = 0; i < cfg->n_est_tokens; i++) {
        const struct cfg_est *e = &cfg->est_tokens[i];
        if (task_type && strcmp(e->task_type, task_type) == 0) return e;
        if (strcmp(e->task_type, "*") == 0) star = e;
    }
    return star;
}

/* scope: {provider, model?, key_id?} */
static int walk_scope(yaml_document_t *doc, yaml_node_t *map, struct cfg_quota *q, const char *file,
                      char *err, size_t errlen)
{
    if (map->type != YAML_MAPPING_NODE)
        return bad(err, errlen, file, map, "%s must be a mapping {provider, model, key_id}",
                   "quotas[].scope");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key),
                    *v = yaml_document_get_node(doc, p->value);
        const char *ks = scalar_of(k), *vs = scalar_of(v);
        char **slot = !ks                           ? NULL
                      : strcmp(ks, "provider") == 0 ? &q->provider
                      : strcmp(ks, "model") == 0    ? &q->model
                      : strcmp(ks, "key_id") == 0   ? &q->key_id
                                                    : NULL;
        if (!slot)
            return bad(err, errlen, file, k,
                       "quotas[].scope has an unknown key '%.60s'; expected "
                       "provider, model, key_id",
                       ks ? ks : "?");
        if (!vs || !config_id_ok(vs))
            return bad(err, errlen, file, v,
                       "quotas[].scope.%s must be 1-128 characters of A-Z a-z 0-9 . _ : @ / -", ks);
        free(*slot);
        *slot = xstrdup(vs);
    }
    if (!q->provider)
        return bad(err, errlen, file, map, "%s is required", "quotas[].scope.provider");
    return 0;
}

static int walk_quota(yaml_document_t *doc, yaml_node_t *map, struct cfg_quota *q, const char *file,
                      char *err, size_t errlen)
{
    if (map->type != YAML_MAPPING_NODE)
        return bad(err, errlen, file, map,
                   "%s must be a mapping {id, scope, rpm, tpm, max_in_flight}", "quotas[]");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key),
                    *v = yaml_document_get_node(doc, p->value);
        const char *ks = scalar_of(k), *vs = scalar_of(v);
        if (!ks || !v) return bad(err, errlen, file, map, "%s: bad key", "quotas[]");
        if (strcmp(ks, "scope") == 0) {
            if (walk_scope(doc, v, q, file, err, errlen) < 0) return -1;
        } else if (strcmp(ks, "id") == 0) {
            if (!vs || !config_id_ok(vs))
                return bad(err, errlen, file, v,
                           "%s must be 1-128 characters of A-Z a-z 0-9 . _ : @ / -", "quotas[].id");
            free(q->id);
            q->id = xstrdup(vs);
        } else if (strcmp(ks, "rpm") == 0 || strcmp(ks, "tpm") == 0 ||
                   strcmp(ks, "max_in_flight") == 0) {
            uint64_t n;
            uint64_t max = ks[0] == 'm' ? UINT32_MAX : MAX_RATE;
            if (parse_u64(vs, max, &n) < 0)
                return bad(err, errlen, file, v, "quotas[].%s must be a whole number >= 0", ks);
            if (ks[0] == 'r')
                q->rpm = n;
            else if (ks[0] == 't')
                q->tpm = n;
            else
                q->max_in_flight = (uint32_t)n;
        } else {
            return bad(err, errlen, file, k,
                       "quotas[] has an unknown key '%.60s'; expected id, scope, rpm, tpm, "
                       "max_in_flight",
                       ks);
        }
    }
    if (!q->id) return bad(err, errlen, file, map, "%s is required", "quotas[].id");
    if (!q->provider) return bad(err, errlen, file, map, "%s is required", "quotas[].scope");
    return 0;
}

int cfg_walk_quotas(struct cp_config *cfg, yaml_document_t *doc, yaml_node_t *seq, const char *file,
                    char *err, size_t errlen)
{
    cfg_clear_quotas_only(cfg);
    if (seq->type != YAML_SEQUENCE_NODE)
        return bad(err, errlen, file, seq,
                   "%s must be a list of {id, scope, rpm, tpm, max_in_flight}", "quotas");
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(doc, *it);
        if (cfg->n_quotas >= CFG_MAX_QUOTAS)
            return bad(err, errlen, file, item, "at most %s quotas", "64");
        struct cfg_quota *q = &cfg->quotas[cfg->n_quotas++];
        memset(q, 0, sizeof *q);
        if (!item || walk_quota(doc, item, q, file, err, errlen) < 0) return -1;
        for (size_t i = 0; i + 1 < cfg->n_quotas; i++)
            if (strcmp(cfg->quotas[i].id, q->id) == 0)
                return bad(err, errlen, file, item, "quota id '%.128s' appears twice", q->id);
    }
    return 0;
}

void cfg_clear_quotas_only(struct cp_config *cfg)
{
    for (size_t i = 0; i < cfg->n_quotas; i++)
        quota_free(&cfg->quotas[i]);
    cfg->n_quotas = 0;
}

/* tasks.est_tokens: {task_type: {input: N, max_output: N}, "*": {...}} */
int cfg_walk_est_tokens(struct cp_config *cfg, yaml_document_t *doc, yaml_node_t *map,
                        const char *file, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n_est_tokens; i++)
        free(cfg->est_tokens[i].task_type);
    cfg->n_est_tokens = 0;
    if (map->type != YAML_MAPPING_NODE)
        return bad(err, errlen, file, map,
                   "%s must be a mapping of task types to {input, max_output}", "tasks.est_tokens");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key),
                    *v = yaml_document_get_node(doc, p->value);
        const char *ks = scalar_of(k);
        if (!ks || !(strcmp(ks, "*") == 0 || config_id_ok(ks)))
            return bad(err, errlen, file, k, "%s: a key must be a task type or \"*\"",
                       "tasks.est_tokens");
        if (cfg->n_est_tokens >= CFG_MAX_EST)
            return bad(err, errlen, file, k, "tasks.est_tokens: at most %s task types", "256");
        if (!v || v->type != YAML_MAPPING_NODE)
            return bad(err, errlen, file, v ? v : k,
                       "tasks.est_tokens.%.128s must be a mapping {input, max_output}", ks);
        struct cfg_est *e = &cfg->est_tokens[cfg->n_est_tokens];
        memset(e, 0, sizeof *e);
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
             q++) {
            yaml_node_t *qk = yaml_document_get_node(doc, q->key),
                        *qv = yaml_document_get_node(doc, q->value);
            const char *qks = scalar_of(qk);
            uint64_t n;
            if (!qks || (strcmp(qks, "input") && strcmp(qks, "max_output")))
                return bad(err, errlen, file, qk,
                           "tasks.est_tokens entries take input and max_output, not '%.60s'",
                           qks ? qks : "?");
            if (parse_u64(scalar_of(qv), MAX_TOKENS_PER_TASK, &n) < 0)
                return bad(err, errlen, file, qv,
                           "tasks.est_tokens.*.%s must be a whole number from 0 to 100000000", qks);
            if (qks[0] == 'i')
                e->input = (uint32_t)n;
            else
                e->max_output = (uint32_t)n;
        }
        e->task_type = xstrdup(ks);
        cfg->n_est_tokens++;
    }
    return 0;
}
