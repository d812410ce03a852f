/* cp/client_tenants.h — libcpclient: tenants (fair share between them, docs/api.md "Tenants").
 * Included by cp/client.h, which declares cp_client and CPC_API; include cp/client.h, not this
 * file. A task's tenant is set with struct cpc_task_options.tenant and read as cpc_task.tenant. */
#ifndef CP_CLIENT_TENANTS_H
#define CP_CLIENT_TENANTS_H

#ifndef CP_CLIENT_H
#error "include <cp/client.h>, not <cp/client_tenants.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* One tenant (TenantJSON). */
struct cpc_tenant {
    char *id;
    uint32_t weight;        /* its share relative to the others' */
    uint32_t max_in_flight; /* 0: no limit */
    int configured;         /* 1: set by PUT or the configuration */
    uint64_t waiting;       /* claimable pending tasks */
    uint64_t in_flight;     /* claimed/running tasks */
    uint64_t tokens_served; /* what its claims were charged */
    char *json;
};

struct cpc_tenant_list {
    struct cpc_tenant *tenants; /* by id */
    size_t n;
    double aging_seconds; /* tenants.aging_seconds; 0 when not set */
    char *json;
};

/* GET /tenants (reader). */
CPC_API int cp_client_tenant_list(cp_client *c, struct cpc_tenant_list **out);
/* GET /tenants/:id (reader). Errors: CPC_ERR_NOT_FOUND. */
CPC_API int cp_client_tenant_get(cp_client *c, const char *tenant_id, struct cpc_tenant **out);
/* PUT /tenants/:id (admin): weight 1-1000000, max_in_flight 0 (no limit) or more. out may be
 * NULL. Errors: CPC_ERR_INVALID (bad id or weight), CPC_ERR_SERVER "not_supported" with a store
 * older than ABI 2.4. */
CPC_API int cp_client_tenant_put(cp_client *c, const char *tenant_id, uint32_t weight,
                                 uint32_t max_in_flight, struct cpc_tenant **out);
/* DELETE /tenants/:id (admin): back to weight 1, no limit. Errors: CPC_ERR_NOT_FOUND. */
CPC_API int cp_client_tenant_delete(cp_client *c, const char *tenant_id, struct cpc_tenant **out);
CPC_API void cp_client_tenant_free(struct cpc_tenant *t);
CPC_API void cp_client_tenant_list_free(struct cpc_tenant_list *l);

#ifdef __cplusplus
}
#endif
#endif
