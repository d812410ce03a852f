/* tenants.c — /tenants (docs/api.md "Tenants"): list, get, set and reset tenants, decoded into
 * struct cpc_tenant (cp/client_tenants.h). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void tenant_clear(struct cpc_tenant *t)
{
    free(t->id);
    free(t->json);
}

void cp_client_tenant_free(struct cpc_tenant *t)
{
    if (!t) return;
    tenant_clear(t);
    free(t);
}

void cp_client_tenant_list_free(struct cpc_tenant_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++)
        tenant_clear(&l->tenants[i]);
    free(l->tenants);
    free(l->json);
    free(l);
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
    int64_t v = cpc_get_i64(o, key, 0);
    return v < 0 ? 0 : (uint64_t)v;
}

/* One TenantJSON; CPC_ERR_PROTOCOL without an id, CPC_ERR_NOMEM. */
static int decode_tenant(cp_client *c, struct json_object *o, struct cpc_tenant *t)
{
    memset(t, 0, sizeof *t);
    if (!json_object_is_type(o, json_type_object) || !cpc_get_str(o, "id"))
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "a tenant without an id");
    int nomem = 0;
    t->id = cpc_strdup(cpc_get_str(o, "id"), &nomem);
    t->json = cpc_strdup(cpc_json_text(o), &nomem);
    uint64_t w = get_u64(o, "weight"), m = get_u64(o, "max_in_flight");
    t->weight = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
    t->max_in_flight = m > UINT32_MAX ? UINT32_MAX : (uint32_t)m;
    struct json_object *v = NULL;
    t->configured = json_object_object_get_ex(o, "configured", &v) && json_object_get_boolean(v);
    t->waiting = get_u64(o, "waiting");
    t->in_flight = get_u64(o, "in_flight");
    t->tokens_served = get_u64(o, "tokens_served");
    if (nomem) {
        tenant_clear(t);
        memset(t, 0, sizeof *t);
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    }
    return CPC_OK;
}

/* Decodes resp (consumed) into a new struct cpc_tenant at *out (when out is given). */
static int give_tenant(cp_client *c, struct json_object *resp, struct cpc_tenant **out)
{
    int err = CPC_OK;
    if (out) {
        struct cpc_tenant *t = calloc(1, sizeof *t);
        if (!t)
            err = cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
        else if ((err = decode_tenant(c, resp, t)))
            free(t);
        else
            *out = t;
    }
    json_object_put(resp);
    return err;
}

static int tenant_path(cp_client *c, struct cpc_buf *b, const char *tenant_id)
{
    int err = cpc_require(c, "tenant_id", tenant_id);
    if (err) return err;
    cpc_buf_add(b, "/tenants/");
    cpc_buf_add_escaped(b, tenant_id);
    if (b->failed) {
        cpc_buf_free(b);
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    }
    return CPC_OK;
}

static int one(cp_client *c, const char *method, const char *tenant_id, const char *body,
               struct cpc_tenant **out)
{
    cpc_reset_error(c);
    if (out) *out = NULL;
    struct cpc_buf path = {0};
    int err = tenant_path(c, &path, tenant_id);
    if (err) return err;
    struct json_object *resp;
    err = cpc_http(c, method, path.s, body, c->timeout_ms, 0, &resp, NULL);
    cpc_buf_free(&path);
    return err ? err : give_tenant(c, resp, out);
}

int cp_client_tenant_get(cp_client *c, const char *tenant_id, struct cpc_tenant **out)
{
    return one(c, "GET", tenant_id, NULL, out);
}

int cp_client_tenant_put(cp_client *c, const char *tenant_id, uint32_t weight,
                         uint32_t max_in_flight, struct cpc_tenant **out)
{
    if (weight < 1) {
        if (out) *out = NULL;
        return cpc_set_error(c, CPC_ERR_INVALID, "weight must be at least 1");
    }
    char body[96];
    snprintf(body, sizeof body, "{\"weight\":%u,\"max_in_flight\":%u}", (unsigned)weight,
             (unsigned)max_in_flight);
    return one(c, "PUT", tenant_id, body, out);
}

int cp_client_tenant_delete(cp_client *c, const char *tenant_id, struct cpc_tenant **out)
{
    return one(c, "DELETE", tenant_id, NULL, out);
}

int cp_client_tenant_list(cp_client *c, struct cpc_tenant_list **out)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    struct json_object *resp, *arr = NULL;
    int err = cpc_http(c, "GET", "/tenants", NULL, c->timeout_ms, 0, &resp, NULL);
    if (err) return err;
    if (!json_object_object_get_ex(resp, "tenants", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        json_object_put(resp);
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "no \"tenants\" array in the answer");
    }
    size_t n = json_object_array_length(arr);
    struct cpc_tenant_list *l = calloc(1, sizeof *l);
    if (!l || !(l->tenants = calloc(n ? n : 1, sizeof *l->tenants)) ||
        !(l->json = strdup(cpc_json_text(resp)))) {
        cp_client_tenant_list_free(l);
        json_object_put(resp);
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    }
    l->aging_seconds = cpc_get_double(resp, "aging_seconds", 0);
    for (size_t i = 0; i < n && !err; i++)
        if (!(err = decode_tenant(c, json_object_array_get_idx(arr, i), &l->tenants[l->n]))) l->n++;
    json_object_put(resp);
    if (err) {
        cp_client_tenant_list_free(l);
        return err;
    }
    *out = l;
    return CPC_OK;
}
