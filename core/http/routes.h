/* routes.h — the handlers of each resource file, and the route table that maps them. */
#ifndef CORE_HTTP_ROUTES_H
#define CORE_HTTP_ROUTES_H

#include "http.h"
#include "validate.h"

/* quotas.c (provider quotas, docs/fleet.md) */
void quotas_put(struct req *r);
void quotas_list(struct req *r);
void quotas_get(struct req *r);
void quotas_delete(struct req *r);
/* agents.c */
void agents_register(struct req *r);
void agents_list(struct req *r);
void agents_get(struct req *r);
void agents_delete(struct req *r);
void agents_heartbeat(struct req *r);
void agents_select(struct req *r);
void agents_drain(struct req *r);
void agents_undrain(struct req *r);
/* tasks.c */
void tasks_submit(struct req *r);
void tasks_list(struct req *r);
void tasks_get(struct req *r);
void tasks_claim(struct req *r);
void tasks_start(struct req *r);
void tasks_complete(struct req *r);
void tasks_fail(struct req *r);
void tasks_cancel(struct req *r);
void tasks_extend(struct req *r);
/* The answer of a transition (tasks.c): its body (without the closing brace), or the whole
 * reply, errors included. */
void tasks_render_transition(struct evbuffer *b, int kind, const struct cp_task_view *t);
void tasks_reply_transition(struct req *r, int kind, const struct cp_result *res);
/* A claim's own state while ops may hold it and until its reply is written (tasks.c; "next"
 * keeps one as the first member of its own, tasks_next.c): its capabilities, the ops argument,
 * then the claimed task, released if the reply never arrives. `free` frees the whole state. */
struct claim_ctx {
    void (*free)(struct claim_ctx *c);
    struct strlist caps;
    struct ops_claim in;
    char task_id[64];
    uint32_t attempt;
};
/* ops' hold callback for a task request (r->ctx a claim_ctx, or NULL): watch the connection
 * while held; a client that leaves cancels the operation and frees r->ctx. */
void tasks_on_hold(void *cookie, int held);
/* A claim's reply carries t: release t if that reply is never written (r->ctx a claim_ctx). */
void tasks_claim_pending(struct req *r, const struct cp_task_view *t);
/* tasks_next.c: "next" of complete and fail. parse: 0 absent, 1 present (*out made), -1 after
 * replying 400; run: takes n, answers r. */
struct next_ctx;
int tasks_next_parse(struct req *r, const char *agent_id, struct next_ctx **out);
void tasks_next_run(struct req *r, struct next_ctx *n, const struct cp_transition *tr);
void tasks_next_free(struct next_ctx *n);
/* tasks_submit.c */
void tasks_submit_batch(struct req *r);
/* tasks_admin.c */
void tasks_retry(struct req *r);
void tasks_purge(struct req *r);
/* system.c */
void system_health(struct req *r);
void system_agent_health(struct req *r);
void system_stats(struct req *r);
/* tenants.c */
void tenants_list(struct req *r);
void tenants_get(struct req *r);
void tenants_put(struct req *r);
void tenants_delete(struct req *r);
/* /stats' by_tenant: {"<id>": {weight, max_in_flight, ...}} of a tenant_list result ({} when
 * res is NULL or failed). */
void tenants_render_map(struct evbuffer *b, const struct cp_result *res);
void system_metrics(struct req *r);
/* compat.c */
void compat_queue(struct req *r);
void compat_metrics(struct req *r);
/* ui.c: the dashboard's files under /ui/ (outside the route table: any depth, GET/HEAD) */
int ui_path(const char *path); /* 1 for "/ui" and "/ui/..." */
void ui_serve(struct req *r, int method, const char *path);
void system_plugins(struct req *r);
/* events.c */
void events_stream(struct req *r);
/* The headers to authenticate a request to the event stream with: `in`, or (no Authorization
 * header, a cp_token cookie) scratch holding "Authorization: Bearer <cookie>". */
const struct evkeyvalq *events_auth_headers(const struct evkeyvalq *in, struct evkeyvalq *scratch);

/* routes.c */
#define HTTP_MAX_ROUTES 40 /* server.c splits each pattern once into a table of this size */
extern const struct route http_routes[];
extern const size_t http_n_routes;

#endif
