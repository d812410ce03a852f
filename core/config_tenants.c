/* config_tenants.c — the tenants of the configuration (YAML `tenants.list`): each tenant's id,
 * weight and max_in_flight, checked as read. cpd gives them to the storage at start-up
 * (ops_tenants.c); the API changes them afterwards. `tenants.aging_seconds` is an ordinary
 * key of config.c's table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config.h"
#include "config_internal.h"
#include "xalloc.h"

void cfg_clear_tenants(struct cp_config *cfg)
{
    for (size_t i = 0; i < cfg->n_tenants; i++)
        free(cfg->tenants[i].id);
    free(cfg->tenants);
    cfg->tenants = NULL;
    cfg->n_tenants = 0;
}

void cfg_clone_tenants(struct cp_config *dst, const struct cp_config *src)
{
    dst->tenants = NULL;
    dst->n_tenants = 0;
    if (!src->n_tenants) return;
    dst->tenants = xcalloc(src->n_tenants, sizeof *dst->tenants);
    for (size_t i = 0; i < src->n_tenants; i++) {
        dst->tenants[i] = src->tenants[i];
        dst->tenants[i].id = xstrdup(src->tenants[i].id);
    }
    dst->n_tenants = src->n_tenants;
}

static const char *scalar_of(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* tenants.list: [{id: acme, weight: 3, max_in_flight: 20}, ...] */
int cfg_yaml_tenants(void *doc_, void *seq_, struct cp_config *cfg, const char *file, char *err,
                     size_t errlen)
{
    yaml_document_t *doc = doc_;
    yaml_node_t *seq = seq_;
    if (seq->type != YAML_SEQUENCE_NODE) {
        snprintf(err, errlen,
                 "config: 'tenants.list' in %s (line %lu) must be a list of {id, weight, "
                 "max_in_flight}",
                 file, (unsigned long)seq->start_mark.line + 1);
        return -1;
    }
    cfg_clear_tenants(cfg);
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n > CFG_MAX_TENANTS) {
        snprintf(err, errlen, "config: 'tenants.list' in %s has %zu tenants; at most %d", file, n,
                 CFG_MAX_TENANTS);
        return -1;
    }
    if (n) cfg->tenants = xcalloc(n, sizeof *cfg->tenants);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(doc, seq->data.sequence.items.start[i]);
        char pos[400];
        snprintf(pos, sizeof pos, "tenants.list[%zu] in %s (line %lu)", i, file,
                 item ? (unsigned long)item->start_mark.line + 1 : 0ul);
        if (!item || item->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "config: %s must be a mapping {id, weight, max_in_flight}", pos);
            return -1;
        }
        struct cfg_tenant t = {.weight = 1};
        const char *id = NULL;
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            const char *k = scalar_of(yaml_document_get_node(doc, p->key));
            const char *v = scalar_of(yaml_document_get_node(doc, p->value));
            uint64_t u;
            if (k && v && strcmp(k, "id") == 0) {
                id = v;
            } else if (k && v && strcmp(k, "weight") == 0) {
                if (cfg_parse_uint(v, 1000000, &u) != 0 || u < 1) {
                    snprintf(err, errlen,
                             "config: %s: weight '%.40s' is not allowed; expected a whole number "
                             "from 1 to 1000000",
                             pos, v);
                    return -1;
                }
                t.weight = (uint32_t)u;
            } else if (k && v && strcmp(k, "max_in_flight") == 0) {
                if (cfg_parse_uint(v, 1000000000, &u) != 0) {
                    snprintf(err, errlen,
                             "config: %s: max_in_flight '%.40s' is not allowed; expected a whole "
                             "number from 0 (no limit) to 1000000000",
                             pos, v);
                    return -1;
                }
                t.max_in_flight = (uint32_t)u;
            } else {
                snprintf(err, errlen,
                         "config: %s has an unknown or non-scalar key '%.60s'; expected id, "
                         "weight and max_in_flight",
                         pos, k ? k : "?");
                return -1;
            }
        }
        if (!config_id_ok(id)) {
            snprintf(err, errlen,
                     "config: %s: id must be 1-128 characters of A-Z a-z 0-9 . _ : @ / -", pos);
            return -1;
        }
        for (size_t j = 0; j < cfg->n_tenants; j++) {
            if (strcmp(cfg->tenants[j].id, id) == 0) {
                snprintf(err, errlen, "config: %s: tenant '%s' is listed twice", pos, id);
                return -1;
            }
        }
        t.id = xstrdup(id);
        cfg->tenants[cfg->n_tenants++] = t;
    }
    return 0;
}
