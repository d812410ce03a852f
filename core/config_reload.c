/* config_reload.c — what SIGHUP may change in a running configuration. A new configuration is
 * read and checked completely first; the keys that only a restart can change (the listen
 * address, storage, plugins) keep their running values, everything else is applied in place, so
 * whatever holds a pointer into the running struct (plugins hold their options) stays valid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cp/plugin.h>
#include <cp/types.h>

#include "config_internal.h"

/* Keys of cfg_keys that a running cpd cannot change: they decide what was bound or loaded. */
static const char *const restart_keys[] = {
    "listen",         "plugin_dir",       "plugins_strict_permissions",
    "storage.plugin", "storage.fallback", "probes.exec.enabled"};

static int needs_restart(const char *path)
{
    for (size_t i = 0; i < sizeof restart_keys / sizeof *restart_keys; i++)
        if (strcmp(restart_keys[i], path) == 0) return 1;
    return 0;
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int key_equal(const struct cfg_key *k, const struct cp_config *a, const struct cp_config *b)
{
    const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;
    switch (k->type) {
    case CT_LISTEN:
    case CT_DIR:
    case CT_PLUGIN:
    case CT_NAME:
    case CT_FALLBACK:
        return str_eq(*(char *const *)pa, *(char *const *)pb);
    case CT_SECONDS:
        return *(const int64_t *)pa == *(const int64_t *)pb;
    case CT_COUNT:
        return *(const uint32_t *)pa == *(const uint32_t *)pb;
    case CT_SIZE:
        return *(const size_t *)pa == *(const size_t *)pb;
    case CT_BOOL:
    case CT_LOGLEVEL:
    case CT_BACKOFF:
        return *(const int *)pa == *(const int *)pb;
    }
    return 1;
}

static void key_format(const struct cfg_key *k, const struct cp_config *c, char *buf, size_t len)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    const char *p = (const char *)c + k->offset;
    switch (k->type) {
    case CT_LISTEN:
    case CT_DIR:
    case CT_PLUGIN:
    case CT_NAME:
    case CT_FALLBACK: {
        const char *s = *(char *const *)p;
        cfg_quote(s ? s : "(none)", buf, len);
        return;
    }
    case CT_SECONDS:
        snprintf(buf, len, "%g", (double)*(const int64_t *)p / 1000.0);
        return;
    case CT_COUNT:
        snprintf(buf, len, "%u", (unsigned)*(const uint32_t *)p);
        return;
    case CT_SIZE:
        snprintf(buf, len, "%zu", *(const size_t *)p);
        return;
    case CT_BOOL:
        snprintf(buf, len, "%s", *(const int *)p ? "true" : "false");
        return;
    case CT_LOGLEVEL: {
        int v = *(const int *)p;
        snprintf(buf, len, "%s", v >= 0 && v < 4 ? levels[v] : "?");
        return;
    }
    case CT_BACKOFF: {
        int v = *(const int *)p;
        snprintf(buf, len, "%s",
                 v >= 0 && v < CP_BACKOFF_TYPE_COUNT ? cp_backoff_type_names[v] : "?");
        return;
    }
    }
    buf[0] = '\0';
}

static int is_string(const struct cfg_key *k)
{
    return k->type == CT_LISTEN || k->type == CT_DIR || k->type == CT_PLUGIN ||
           k->type == CT_NAME || k->type == CT_FALLBACK;
}

/* dst's value of `k` becomes src's: strings are swapped (src then holds dst's old one, freed
 * with src), numbers copied. */
static void key_take(const struct cfg_key *k, struct cp_config *dst, struct cp_config *src)
{
    char *pd = (char *)dst + k->offset, *ps = (char *)src + k->offset;
    if (is_string(k)) {
        char *t = *(char **)pd;
        *(char **)pd = *(char **)ps;
        *(char **)ps = t;
        return;
    }
    size_t n = k->type == CT_SECONDS ? sizeof(int64_t)
               : k->type == CT_COUNT ? sizeof(uint32_t)
               : k->type == CT_SIZE  ? sizeof(size_t)
                                     : sizeof(int);
    memcpy(pd, ps, n);
}

/* dst's value of `k` becomes a copy of src's. 0, or -1 out of memory. */
static int key_copy(const struct cfg_key *k, struct cp_config *dst, const struct cp_config *src)
{
    if (!is_string(k)) {
        key_take(k, dst, (struct cp_config *)src); /* numbers: a plain copy */
        return 0;
    }
    const char *s = *(char *const *)((const char *)src + k->offset);
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy) return -1;
    char **d = (char **)((char *)dst + k->offset);
    free(*d);
    *d = copy;
    return 0;
}

/* The same options, in any order. */
static int options_equal(const struct cfg_option *a, size_t na, const struct cfg_option *b,
                         size_t nb)
{
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++) {
        int found = 0;
        for (size_t j = 0; j < nb && !found; j++)
            found = !strcmp(a[i].key, b[j].key) && !strcmp(a[i].value, b[j].value);
        if (!found) return 0;
    }
    return 1;
}

static int plugins_equal(const struct cfg_plugin_ref *a, size_t na, const struct cfg_plugin_ref *b,
                         size_t nb)
{
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].spec, b[i].spec) != 0 ||
            !options_equal(a[i].options, a[i].n_options, b[i].options, b[i].n_options))
            return 0;
    return 1;
}

static int tokens_equal(const struct cp_config *a, const struct cp_config *b)
{
    if (a->n_tokens != b->n_tokens) return 0;
    for (size_t i = 0; i < a->n_tokens; i++) {
        const struct cfg_token *x = &a->tokens[i], *y = &b->tokens[i];
        if (x->role != y->role || strcmp(x->token, y->token) != 0 || x->n_agents != y->n_agents)
            return 0;
        for (uint32_t j = 0; j < x->n_agents; j++)
            if (strcmp(x->agents[j], y->agents[j]) != 0) return 0;
    }
    return 1;
}

/* Append ", item" to buf (bounded; a full buffer ends in "..."). */
static void list_add(char *buf, size_t len, const char *item)
{
    size_t used = strlen(buf);
    if (used + 8 >= len) return;
    int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", item);
    if (n < 0 || (size_t)n >= len - used) snprintf(buf + len - 4, 4, "...");
}

/* quotas: (config_quotas.c) put into the store at start-up only. */
static int quotas_equal(const struct cp_config *a, const struct cp_config *b)
{
    if (a->n_quotas != b->n_quotas) return 0;
    for (size_t i = 0; i < a->n_quotas; i++) {
        const struct cfg_quota *x = &a->quotas[i], *y = &b->quotas[i];
        if (!str_eq(x->id, y->id) || !str_eq(x->provider, y->provider) ||
            !str_eq(x->model, y->model) || !str_eq(x->key_id, y->key_id) || x->rpm != y->rpm ||
            x->tpm != y->tpm || x->max_in_flight != y->max_in_flight)
            return 0;
    }
    return 1;
}

static int est_equal(const struct cp_config *a, const struct cp_config *b)
{
    if (a->n_est_tokens != b->n_est_tokens) return 0;
    for (size_t i = 0; i < a->n_est_tokens; i++) {
        const struct cfg_est *x = &a->est_tokens[i], *y = &b->est_tokens[i];
        if (!str_eq(x->task_type, y->task_type) || x->input != y->input ||
            x->max_output != y->max_output)
            return 0;
    }
    return 1;
}

int config_reload_plan(const struct cp_config *cur, struct cp_config *next, char *restart,
                       size_t restart_len)
{
    restart[0] = '\0';
    for (size_t i = 0; i < cfg_n_keys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (!needs_restart(k->path) || key_equal(k, cur, next)) continue;
        list_add(restart, restart_len, k->path);
        if (key_copy(k, next, cur) != 0) return -1;
    }
    if (!options_equal(cur->storage_options, cur->n_storage_options, next->storage_options,
                       next->n_storage_options))
        list_add(restart, restart_len, "storage.options");
    if (!plugins_equal(cur->selection_plugins, cur->n_selection_plugins, next->selection_plugins,
                       next->n_selection_plugins))
        list_add(restart, restart_len, "selection.plugins");
    if (!plugins_equal(cur->probe_plugins, cur->n_probe_plugins, next->probe_plugins,
                       next->n_probe_plugins))
        list_add(restart, restart_len, "probes.plugins");
    if (!quotas_equal(cur, next)) list_add(restart, restart_len, "quotas");
    /* The new configuration keeps the running lists too, so it is checked as it will run. */
    struct cp_config keep;
    if (cfg_clone(&keep, cur) != 0) return -1;
    for (size_t i = 0; i < next->n_storage_options; i++) {
        free(next->storage_options[i].key);
        free(next->storage_options[i].value);
    }
    cfg_clear_plugins(next->selection_plugins, &next->n_selection_plugins);
    cfg_clear_plugins(next->probe_plugins, &next->n_probe_plugins);
    memcpy(next->storage_options, keep.storage_options, sizeof keep.storage_options);
    next->n_storage_options = keep.n_storage_options;
    memcpy(next->selection_plugins, keep.selection_plugins, sizeof keep.selection_plugins);
    next->n_selection_plugins = keep.n_selection_plugins;
    memcpy(next->probe_plugins, keep.probe_plugins, sizeof keep.probe_plugins);
    next->n_probe_plugins = keep.n_probe_plugins;
    keep.n_storage_options = keep.n_selection_plugins = keep.n_probe_plugins = 0;
    config_free(&keep);
    return 0;
}

/* cur's fixed-size list (`bytes` long, *n_cur items) becomes next's and next's cur's, which
 * is freed with next: the lists are swapped whole, owned strings included. */
static void take_list(void *cur, size_t *n_cur, void *next, size_t *n_next, size_t bytes)
{
    unsigned char *a = cur, *b = next;
    for (size_t i = 0; i < bytes; i++) {
        unsigned char t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
    size_t n = *n_cur;
    *n_cur = *n_next;
    *n_next = n;
}

void config_reload_apply(struct cp_config *cur, struct cp_config *next, char *changed,
                         size_t changed_len)
{
    changed[0] = '\0';
    for (size_t i = 0; i < cfg_n_keys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (needs_restart(k->path) || key_equal(k, cur, next)) continue;
        char from[80], to[80], item[256];
        key_format(k, cur, from, sizeof from);
        key_format(k, next, to, sizeof to);
        snprintf(item, sizeof item, "%s %s -> %s", k->path, from, to);
        list_add(changed, changed_len, item);
        key_take(k, cur, next);
    }
    if (!tokens_equal(cur, next)) {
        char item[96]; /* counts only: tokens are never logged */
        snprintf(item, sizeof item, "auth.tokens (%zu -> %zu tokens)", cur->n_tokens,
                 next->n_tokens);
        list_add(changed, changed_len, item);
        take_list(cur->tokens, &cur->n_tokens, next->tokens, &next->n_tokens, sizeof cur->tokens);
    }
    if (!est_equal(cur, next)) { /* tasks.est_tokens: the defaults of the next submits */
        char item[96];
        snprintf(item, sizeof item, "tasks.est_tokens (%zu -> %zu task types)", cur->n_est_tokens,
                 next->n_est_tokens);
        list_add(changed, changed_len, item);
        take_list(cur->est_tokens, &cur->n_est_tokens, next->est_tokens, &next->n_est_tokens,
                  sizeof cur->est_tokens);
    }
}
