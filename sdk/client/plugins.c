/* plugins.c — GET /plugins: what the server loaded, decoded into struct cpc_plugin_list. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void plugin_clear(struct cpc_plugin *p)
{
    free(p->kind);
    free(p->name);
    free(p->version);
    free(p->abi_version);
    free(p->path);
    for (size_t i = 0; i < p->n_options; i++)
        free(p->options[i]);
    free(p->options);
}

void cp_client_plugin_list_free(struct cpc_plugin_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++)
        plugin_clear(&l->plugins[i]);
    free(l->plugins);
    free(l->json);
    free(l);
}

/* One entry; CPC_ERR_PROTOCOL without kind and name, CPC_ERR_NOMEM. */
static int decode_plugin(cp_client *c, struct json_object *o, struct cpc_plugin *p)
{
    memset(p, 0, sizeof *p);
    if (!json_object_is_type(o, json_type_object) || !cpc_get_str(o, "kind") ||
        !cpc_get_str(o, "name"))
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "a plugin without kind and name");
    int nomem = 0;
    p->kind = cpc_strdup(cpc_get_str(o, "kind"), &nomem);
    p->name = cpc_strdup(cpc_get_str(o, "name"), &nomem);
    p->version = cpc_strdup(cpc_get_str(o, "version"), &nomem);
    p->abi_version = cpc_strdup(cpc_get_str(o, "abi_version"), &nomem);
    p->path = cpc_strdup(cpc_get_str(o, "path"), &nomem);
    struct json_object *v = NULL;
    p->is_default = json_object_object_get_ex(o, "default", &v) && json_object_get_boolean(v);
    struct json_object *opts = NULL;
    if (!nomem && json_object_object_get_ex(o, "options", &opts) &&
        json_object_is_type(opts, json_type_array)) {
        size_t n = json_object_array_length(opts);
        if (!(p->options = calloc(n ? n : 1, sizeof *p->options))) nomem = 1;
        for (size_t i = 0; !nomem && i < n; i++) {
            const char *key = json_object_get_string(json_object_array_get_idx(opts, i));
            if (!key) continue;
            if (!(p->options[p->n_options] = strdup(key)))
                nomem = 1;
            else
                p->n_options++;
        }
    }
    if (nomem) {
        plugin_clear(p);
        memset(p, 0, sizeof *p);
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    }
    return CPC_OK;
}

int cp_client_plugins(cp_client *c, struct cpc_plugin_list **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    struct json_object *resp, *arr = NULL;
    int err = cpc_http(c, "GET", "/plugins", NULL, c->timeout_ms, 0, &resp, NULL);
    if (err) return err;
    if (!json_object_object_get_ex(resp, "plugins", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        json_object_put(resp);
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "no \"plugins\" array in the answer");
    }
    size_t n = json_object_array_length(arr);
    struct cpc_plugin_list *l = calloc(1, sizeof *l);
    if (!l || !(l->plugins = calloc(n ? n : 1, sizeof *l->plugins)) ||
        !(l->json = strdup(cpc_json_text(resp)))) {
        cp_client_plugin_list_free(l);
        json_object_put(resp);
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && !err; i++)
        if (!(err = decode_plugin(c, json_object_array_get_idx(arr, i), &l->plugins[l->n]))) l->n++;
    json_object_put(resp);
    if (err) {
        cp_client_plugin_list_free(l);
        return err;
    }
    *out = l;
    return CPC_OK;
}
