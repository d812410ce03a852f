/* ops_quotas.c — the provider-quota operations (docs/fleet.md): define, delete and read quotas
 * (one store operation each; a store without quotas answers OPS_ERR_UNSUPPORTED), and the
 * reactions of transitions to them: a 429 reported with fail, room back when a task leaves its
 * holder. */
#include <stddef.h>

#include "clock.h"
#include "ops_internal.h"
#include "quota.h"

static int supported(struct cp_core *core, cp_storage_cb cb, void *cookie)
{
    if (core->store->quota_put && core->store->quota_delete && core->store->quota_list) return 1;
    ops_fail(cb, cookie, OPS_ERR_UNSUPPORTED,
             "the storage backend '%s' (plugin ABI %d.%u) does not support provider quotas",
             core->storage_plugin ? core->storage_plugin->desc->name : "?", CP_ABI_MAJOR,
             ops_store_minor(core));
    return 0;
}

int ops_quotas_supported(const struct cp_core *core)
{
    return core->store->quota_put && core->store->quota_delete && core->store->quota_list;
}

static void on_changed(void *cookie, const struct cp_result *res)
{
    struct ops_call *call = cookie;
    struct cp_core *core = call->core; /* the callback may free call */
    call->cb(call->cookie, res);
    if (res->rc == 0) {
        quotas_room(core->quotas); /* a larger limit, or a quota gone: held claims try again */
        CORE_STORE(core, quota_list, clock_now_ms(), ops_quotas_seen, core);
    }
}

void ops_quotas_seen(void *cookie, const struct cp_result *res)
{
    struct cp_core *core = cookie;
    quotas_seen(core->quotas, res);
}

void ops_quota_put(struct cp_core *core, struct ops_call *call, const struct cp_quota_view *q,
                   cp_storage_cb cb, void *cookie)
{
    if (!supported(core, cb, cookie)) return;
    ops_call_init(call, core, cb, cookie);
    CORE_STORE(core, quota_put, q, on_changed, call);
}

void ops_quota_delete(struct cp_core *core, struct ops_call *call, const char *id, cp_storage_cb cb,
                      void *cookie)
{
    if (!supported(core, cb, cookie)) return;
    ops_call_init(call, core, cb, cookie);
    CORE_STORE(core, quota_delete, id, on_changed, call);
}

void ops_quota_list(struct cp_core *core, cp_storage_cb cb, void *cookie)
{
    if (!supported(core, cb, cookie)) return;
    CORE_STORE(core, quota_list, clock_now_ms(), cb, cookie);
}

/* A FAIL the store applied: a 429 (the task's last attempt is rate_limited). */
int ops_rate_limited(int32_t kind, const struct cp_result *res)
{
    const struct cp_task_view *t = res->task;
    if (kind != CP_TR_FAIL || !t ||
        t->size < offsetof(struct cp_task_view, n_attempts) + sizeof t->n_attempts)
        return 0;
    return t->n_attempts > 0 && t->attempts &&
           t->attempts[t->n_attempts - 1].outcome == CP_ATTEMPT_RATE_LIMITED &&
           t->status == CP_TASK_PENDING;
}
