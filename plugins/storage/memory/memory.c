/* memory.c — the in-memory storage plugin ("memory"): instance lifetime, the ops table, and the
 * bracketing that keeps records alive while a callback may still be looking at them.
 *
 * Every op completes (and calls back) before it returns; no event loop is needed. The store is
 * lost when the process exits. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <cp/time.h>

#include "memory_internal.h"

const char mem_empty_object[] = "{}";

char *mem_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

int mem_dup_json_object(const char *s, const char **out)
{
    if (!s || strcmp(s, "{}") == 0) {
        *out = mem_empty_object;
        return 0;
    }
    *out = mem_strdup(s);
    return *out ? 0 : -1;
}

void mem_free_json_object(struct mem *m, const char *s)
{
    if (s && s != mem_empty_object) mem_free_later(m, (void *)s);
}

int mem_caps_valid(const char *const *caps, uint32_t n)
{
    if (n > 0 && !caps) return 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!caps[i] || !caps[i][0]) return 0;
        if (i > 0 && strcmp(caps[i - 1], caps[i]) >= 0) return 0;
    }
    return 1;
}

void mem_reply_err(cp_storage_cb cb, void *cookie, int rc, const char *message)
{
    struct cp_result res;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    res.rc = rc;
    res.message = message;
    cb(cookie, &res);
}

/* ---- deferred frees ------------------------------------------------------------------------ */

void mem_enter(struct mem *m)
{
    m->depth++;
}

static void flush(struct mem *m)
{
    /* Freeing a record drops references, which may defer more frees: loop until quiet. */
    while (m->grave_tasks || m->grave_agents || m->n_deferred) {
        while (m->grave_tasks) {
            struct mem_task *t = m->grave_tasks;
            m->grave_tasks = t->next;
            mem_task_free(m, t);
        }
        while (m->grave_agents) {
            struct mem_agent *a = m->grave_agents;
            m->grave_agents = a->next;
            mem_name_put(m, &m->ids, a->id);
            for (uint32_t i = 0; i < a->n_caps; i++)
                mem_name_put(m, &m->caps, a->cap_names[i]);
            mem_name_put(m, &m->providers, a->provider);
            free(a->cap_names);
            free(a->model);
            mem_free_json_object(m, a->metadata);
            free(a->probe);
            free(a->health_error);
            free(a->scopes);
            free(a->nodes); /* unlinked by mem_agent_delete(), or the store is going away */
            free(a);
        }
        while (m->n_deferred)
            free(m->deferred[--m->n_deferred]);
    }
}

void mem_leave(struct mem *m)
{
    if (--m->depth == 0) {
        m->depth = 1; /* frees below must not be deferred again */
        flush(m);
        m->depth = 0;
    }
}

void mem_free_later(struct mem *m, void *p)
{
    if (!p) return;
    /* depth 0 or 1: no result of an enclosing op can see it (the running op's own result is
     * built from the new state). */
    if (m->depth <= 1) {
        free(p);
        return;
    }
    if (m->n_deferred == m->cap_deferred) {
        size_t cap = m->cap_deferred ? m->cap_deferred * 2 : 32;
        void **d = realloc(m->deferred, cap * sizeof *d);
        if (!d) {
            free(p); /* last resort; only reachable while nested and out of memory */
            return;
        }
        m->deferred = d;
        m->cap_deferred = cap;
    }
    m->deferred[m->n_deferred++] = p;
}

/* ---- lifetime ------------------------------------------------------------------------------ */

static uint64_t make_seed(void *salt)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        seed = (uint64_t)cp_monotonic_us() * 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)salt;
    }
    return seed | 1;
}

static int mem_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    struct mem *m = calloc(1, sizeof *m);
    if (!m) {
        if (err) strcpy(err->msg, "out of memory");
        return CP_ERR_NOMEM;
    }
    m->host = host;
    m->seed = make_seed(m);
    m->rng = (m->seed * 0x9e3779b97f4a7c15ULL) | 1; /* xorshift state must be non-zero */
    m->waiting.by_not_before = 1;
    *state = m;
    return 0;
}

static void mem_destroy(void *state)
{
    struct mem *m = state;
    if (!m) return;
    m->depth = 1; /* free at once, nothing can be looking */
    flush(m);
    while (m->all_head) {
        struct mem_task *t = m->all_head;
        m->all_head = t->cnext;
        mem_task_free(m, t);
    }
    struct mem_agent_list *lists[2] = {&m->live, &m->offline};
    for (int i = 0; i < 2; i++) {
        while (lists[i]->head) {
            struct mem_agent *a = lists[i]->head;
            lists[i]->head = a->next;
            a->next = m->grave_agents;
            m->grave_agents = a;
        }
    }
    flush(m);
    /* Every record is gone, so the intern tables hold nothing; free defensively anyway. */
    for (size_t i = 0; i < m->capsets.cap; i++)
        free(m->capsets.items[i]);
    mem_hash_free(&m->capsets);
    mem_tenants_free(m);
    mem_names_free(m, &m->ids);
    mem_names_free(m, &m->caps);
    mem_names_free(m, &m->providers);
    mem_names_free(m, &m->types);
    mem_hash_free(&m->agents);
    mem_hash_free(&m->tasks);
    mem_hash_free(&m->idem);
    mem_affinity_free(m);
    mem_theap_free(&m->timeouts);
    mem_theap_free(&m->waiting);
#if CP_ABI_TARGET_MINOR >= 4
    mem_quotas_free(m);
#endif
    free(m->deferred);
    free(m);
}

static const struct cp_storage_ops memory_ops = {
    .version = CP_STORAGE_OPS_VERSION,
    .create = mem_create,
    .destroy = mem_destroy,
    .agent_register = mem_op_agent_register,
    .agent_get = mem_op_agent_get,
    .agent_list = mem_op_agent_list,
    .agent_heartbeat = mem_op_agent_heartbeat,
    .agent_unregister = mem_op_agent_unregister,
    .agent_set_health = mem_op_agent_set_health,
    .task_submit = mem_op_task_submit,
    .task_get = mem_op_task_get,
    .task_list = mem_op_task_list,
    .task_claim = mem_op_task_claim,
    .task_transition = mem_op_task_transition,
    .reap = mem_op_reap,
    .stats = mem_op_stats,
    .watch = NULL,
    .is_available = NULL,
#if CP_ABI_TARGET_MINOR >= 4 /* this file also builds the ABI 2.0 test fixture memory_minor0.so */
    .task_extend = mem_op_task_extend,
    .task_retry = mem_op_task_retry,
    .task_purge = mem_op_task_purge,
    .task_submit_batch = mem_op_task_submit_batch,
    .agent_drain = mem_op_agent_drain,
    .task_complete_next = mem_op_task_complete_next,
    .quota_put = mem_op_quota_put,
    .quota_delete = mem_op_quota_delete,
    .quota_list = mem_op_quota_list,
    .tenant_put = mem_op_tenant_put,
    .tenant_delete = mem_op_tenant_delete,
    .tenant_list = mem_op_tenant_list,
    .affinity_get = mem_op_affinity_get,
    .affinity_set = mem_op_affinity_set,
#endif
};

CP_PLUGIN_DEFINE(CP_PLUGIN_STORAGE, "memory", "1.0.0", &memory_ops);
