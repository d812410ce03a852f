/* routes.c — the route table: every method and path the API answers, its handler and the role
 * it needs (-1: none). server.c matches requests against it; the handlers live in their resource
 * files (routes.h). */
#include <event2/http.h>

#include "routes.h"

#define API "/api/control-plane"

const struct route http_routes[] = {
    {EVHTTP_REQ_GET, API "/health", system_health, -1},
    {EVHTTP_REQ_GET, "/metrics", system_metrics, -1},
    {EVHTTP_REQ_GET, API "/health/:id", system_agent_health, ROLE_READER},
    {EVHTTP_REQ_GET, API "/stats", system_stats, ROLE_READER},
    {EVHTTP_REQ_GET, API "/events", events_stream, ROLE_READER},
    {EVHTTP_REQ_GET, API "/queue", compat_queue, ROLE_READER},
    {EVHTTP_REQ_GET, API "/metrics", compat_metrics, ROLE_READER},
    {EVHTTP_REQ_GET, API "/plugins", system_plugins, ROLE_READER},
    {EVHTTP_REQ_POST, API "/agents", agents_register, ROLE_AGENT},
    {EVHTTP_REQ_GET, API "/agents", agents_list, ROLE_READER},
    {EVHTTP_REQ_GET, API "/agents/select", agents_select, ROLE_READER},
    {EVHTTP_REQ_GET, API "/agents/:id", agents_get, ROLE_READER},
    {EVHTTP_REQ_DELETE, API "/agents/:id", agents_delete, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/agents/:id/heartbeat", agents_heartbeat, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/agents/:id/drain", agents_drain, ROLE_ADMIN},
    {EVHTTP_REQ_POST, API "/agents/:id/undrain", agents_undrain, ROLE_ADMIN},
    {EVHTTP_REQ_POST, API "/tasks", tasks_submit, ROLE_ADMIN},
    {EVHTTP_REQ_GET, API "/tasks", tasks_list, ROLE_READER},
    {EVHTTP_REQ_DELETE, API "/tasks", tasks_purge, ROLE_ADMIN},
    {EVHTTP_REQ_POST, API "/tasks/claim", tasks_claim, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/batch", tasks_submit_batch, ROLE_ADMIN},
    {EVHTTP_REQ_GET, API "/tasks/:id", tasks_get, ROLE_READER},
    {EVHTTP_REQ_POST, API "/tasks/:id/start", tasks_start, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/complete", tasks_complete, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/fail", tasks_fail, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/cancel", tasks_cancel, ROLE_ADMIN},
    {EVHTTP_REQ_POST, API "/tasks/:id/extend", tasks_extend, ROLE_AGENT},
    {EVHTTP_REQ_POST, API "/tasks/:id/retry", tasks_retry, ROLE_ADMIN},
    {EVHTTP_REQ_POST, API "/quotas", quotas_put, ROLE_ADMIN},
    {EVHTTP_REQ_GET, API "/quotas", quotas_list, ROLE_READER},
    {EVHTTP_REQ_GET, API "/quotas/:id", quotas_get, ROLE_READER},
    {EVHTTP_REQ_DELETE, API "/quotas/:id", quotas_delete, ROLE_ADMIN},
    {EVHTTP_REQ_GET, API "/tenants", tenants_list, ROLE_READER},
    {EVHTTP_REQ_GET, API "/tenants/:id", tenants_get, ROLE_READER},
    {EVHTTP_REQ_PUT, API "/tenants/:id", tenants_put, ROLE_ADMIN},
    {EVHTTP_REQ_DELETE, API "/tenants/:id", tenants_delete, ROLE_ADMIN},
};
const size_t http_n_routes = sizeof(http_routes) / sizeof(http_routes[0]);
_Static_assert(sizeof(http_routes) / sizeof(http_routes[0]) <= HTTP_MAX_ROUTES,
               "raise HTTP_MAX_ROUTES (routes.h)");
