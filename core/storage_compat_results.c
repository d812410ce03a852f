/* storage_compat_results.c — what a storage plugin of an older minor returns, read as far as
 * each struct's `size` says (storage_compat.h): members appended after its minor read as
 * 0/NULL, enum counts as the host's, and a struct shorter than this major's x.0 size makes the
 * result CP_ERR_UNAVAILABLE (logged once per instance) instead of being read. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "storage_compat_int.h"

/* Sizes at minor 0 of this major: the least a plugin of this major may return. */
#define RESULT_MIN offsetof(struct cp_result, outcome)          /* 2.2 appended outcome */
#define AGENT_MIN offsetof(struct cp_agent_view, drained_at_ms) /* 2.4 appended drained_at */
#define TASK_MIN offsetof(struct cp_task_view, deadline_at_ms)  /* 2.4 appended */
#define STATS_MIN sizeof(struct cp_stats_view)
#define EVENT_MIN offsetof(struct cp_event, strategy) /* 2.1 appended strategy */

/* ---- results: read as far as `size` says ------------------------------------------------ */

/* What one result turned into: copies of the structs that were shorter than the host's. */
struct norm {
    struct cp_result res;
    struct cp_agent_view agent;
    struct cp_task_view task;
    struct cp_stats_view stats;
    struct cp_agent_view *agents;
    const struct cp_agent_view **agent_ptrs;
    struct cp_task_view *tasks;
    const struct cp_task_view **task_ptrs;
    struct cp_event *events;
    char message[256];
};

/* dst (host size) = the first src_size bytes of src, the rest zero, size = the host's. */
void compat_copy_sized(void *dst, size_t dst_size, const void *src, size_t src_size)
{
    memset(dst, 0, dst_size);
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
    *(uint32_t *)dst = (uint32_t)dst_size; /* every sized struct starts with its size */
}

static void norm_free(struct norm *n)
{
    free(n->agents);
    free(n->agent_ptrs);
    free(n->tasks);
    free(n->task_ptrs);
    free(n->events);
    memset(n, 0, offsetof(struct norm, message));
}

/* Replaces the result with an error of its own (rc, n->message). */
static const struct cp_result *replaced(struct norm *n, int rc)
{
    norm_free(n);
    n->res.size = sizeof n->res;
    n->res.rc = rc;
    n->res.message = n->message;
    return &n->res;
}

/* The plugin broke the size contract: CP_ERR_UNAVAILABLE, logged once per instance. */
static const struct cp_result *malformed(struct compat *c, struct norm *n, const char *fmt, ...)
    CP_PRINTF(3, 4);
static const struct cp_result *malformed(struct compat *c, struct norm *n, const char *fmt, ...)
{
    int len = snprintf(n->message, sizeof n->message, "storage plugin '%s' (ABI %d.%u) returned ",
                       c->name, CP_ABI_MAJOR, c->minor);
    va_list ap;
    va_start(ap, fmt);
    if (len > 0 && (size_t)len < sizeof n->message)
        vsnprintf(n->message + len, sizeof n->message - (size_t)len, fmt, ap);
    va_end(ap);
    if (!c->warned) log_error("%s", n->message);
    c->warned = 1;
    return replaced(n, CP_ERR_UNAVAILABLE);
}

#define TOO_SHORT(c, n, what, have, least)                                                         \
    malformed(c, n, "%s of %u bytes; at least %zu expected", what, (unsigned)(have),               \
              (size_t)(least))

static const struct cp_result *out_of_memory(struct norm *n)
{
    snprintf(n->message, sizeof n->message, "out of memory");
    return replaced(n, CP_ERR_NOMEM);
}

#define VIEW_LIST(type, min, list, count, copies, ptrs, what)                                      \
    do {                                                                                           \
        size_t k_, short_ = 0;                                                                     \
        for (k_ = 0; k_ < (count); k_++) {                                                         \
            if ((list)[k_]->size < (min)) return TOO_SHORT(c, n, what, (list)[k_]->size, (min));   \
            short_ += (list)[k_]->size != sizeof(type);                                            \
        }                                                                                          \
        if (short_ == 0) break;                                                                    \
        (copies) = calloc((count), sizeof(type));                                                  \
        (ptrs) = calloc((count), sizeof *(ptrs));                                                  \
        if (!(copies) || !(ptrs)) return out_of_memory(n);                                         \
        for (k_ = 0; k_ < (count); k_++) {                                                         \
            compat_copy_sized(&(copies)[k_], sizeof(type), (list)[k_], (list)[k_]->size);          \
            (ptrs)[k_] = &(copies)[k_];                                                            \
        }                                                                                          \
        (list) = (ptrs);                                                                           \
    } while (0)

/* The stats with every by-enum entry at or past the plugin's count read as 0, and the counts
 * the host's own. */
static const struct cp_result *norm_stats(struct compat *c, struct norm *n)
{
    const struct cp_stats_view *s = n->res.stats;
    if (s->size < STATS_MIN) return TOO_SHORT(c, n, "a stats view", s->size, STATS_MIN);
    if (s->n_agents_by_status > CP_AGENT_STATUS_CAP || s->n_agents_by_health > CP_HEALTH_CAP ||
        s->n_tasks_by_status > CP_TASK_STATUS_CAP || s->n_tasks_by_priority > CP_PRIORITY_CAP)
        return malformed(c, n, "a stats view whose counts exceed the capacities");
    compat_copy_sized(&n->stats, sizeof n->stats, s, s->size);
    struct cp_stats_view *o = &n->stats;
    memset(o->agents_by_status + o->n_agents_by_status, 0,
           (CP_AGENT_STATUS_CAP - o->n_agents_by_status) * sizeof(uint64_t));
    memset(o->agents_by_health + o->n_agents_by_health, 0,
           (CP_HEALTH_CAP - o->n_agents_by_health) * sizeof(uint64_t));
    memset(o->tasks_by_status + o->n_tasks_by_status, 0,
           (CP_TASK_STATUS_CAP - o->n_tasks_by_status) * sizeof(uint64_t));
    memset(o->tasks_by_priority + o->n_tasks_by_priority, 0,
           (CP_PRIORITY_CAP - o->n_tasks_by_priority) * sizeof(uint64_t));
    o->n_agents_by_status = CP_AGENT_STATUS_COUNT;
    o->n_agents_by_health = CP_HEALTH_COUNT;
    o->n_tasks_by_status = CP_TASK_STATUS_COUNT;
    o->n_tasks_by_priority = CP_PRIORITY_COUNT;
    n->res.stats = o;
    return NULL;
}

/* Events are one array whose stride is the plugin's sizeof(struct cp_event). */
static const struct cp_result *norm_events(struct compat *c, struct norm *n)
{
    size_t stride = n->res.events[0].size;
    if (stride < EVENT_MIN) return TOO_SHORT(c, n, "an event", stride, EVENT_MIN);
    if (stride == sizeof(struct cp_event)) return NULL;
    n->events = calloc(n->res.n_events, sizeof *n->events);
    if (!n->events) return out_of_memory(n);
    const char *src = (const char *)n->res.events;
    for (size_t i = 0; i < n->res.n_events; i++) {
        const struct cp_event *e = (const struct cp_event *)(const void *)(src + i * stride);
        if (e->size != stride)
            return malformed(c, n, "events of different sizes (%u and %zu bytes)",
                             (unsigned)e->size, stride);
        compat_copy_sized(&n->events[i], sizeof n->events[i], e, stride);
        if (stride < offsetof(struct cp_event, status_before) + sizeof e->status_before)
            n->events[i].status_before = -1; /* 2.4 appended it: not known */
    }
    n->res.events = n->events;
    return NULL;
}

/* The result the core may read whole: `in` copied where the plugin's structs are shorter. */
static const struct cp_result *normalize(struct compat *c, const struct cp_result *in,
                                         struct norm *n)
{
    const struct cp_result *bad;
    if (in->size < RESULT_MIN) return TOO_SHORT(c, n, "a result", in->size, RESULT_MIN);
    compat_copy_sized(&n->res, sizeof n->res, in, in->size);
    if (n->res.agent && n->res.agent->size != sizeof n->agent) {
        if (n->res.agent->size < AGENT_MIN)
            return TOO_SHORT(c, n, "an agent view", n->res.agent->size, AGENT_MIN);
        compat_copy_sized(&n->agent, sizeof n->agent, n->res.agent, n->res.agent->size);
        n->res.agent = &n->agent;
    }
    if (n->res.task && n->res.task->size != sizeof n->task) {
        if (n->res.task->size < TASK_MIN)
            return TOO_SHORT(c, n, "a task view", n->res.task->size, TASK_MIN);
        compat_copy_sized(&n->task, sizeof n->task, n->res.task, n->res.task->size);
        n->res.task = &n->task;
    }
    VIEW_LIST(struct cp_agent_view, AGENT_MIN, n->res.agents, n->res.n_agents, n->agents,
              n->agent_ptrs, "an agent view");
    VIEW_LIST(struct cp_task_view, TASK_MIN, n->res.tasks, n->res.n_tasks, n->tasks, n->task_ptrs,
              "a task view");
    if (n->res.stats && (bad = norm_stats(c, n))) return bad;
    if (n->res.n_events > 0 && n->res.events && (bad = norm_events(c, n))) return bad;
    return &n->res;
}

void compat_on_result(void *cookie, const struct cp_result *res)
{
    struct call *k = cookie;
    struct norm *n = calloc(1, sizeof *n);
    struct cp_result oom = {.size = sizeof oom, .rc = CP_ERR_NOMEM, .message = "out of memory"};
    k->cb(k->cookie, n ? normalize(k->c, res, n) : &oom);
    if (n) norm_free(n);
    free(n);
    free(k);
}

void compat_on_listed_page(void *cookie, const struct cp_result *res)
{
    struct page_call *pc = cookie;
    struct norm *n = calloc(1, sizeof *n);
    const struct cp_agent_view **page = NULL;
    struct cp_result out = {.size = sizeof out, .rc = CP_ERR_NOMEM, .message = "out of memory"};
    if (n) {
        out = *normalize(pc->k.c, res, n);
        if (out.rc == 0 && !(page = malloc((out.n_agents ? out.n_agents : 1) * sizeof *page)))
            out = *out_of_memory(n);
    }
    if (page) {
        size_t k = 0, i = 0;
        for (; i < out.n_agents && (!pc->limit || k < pc->limit); i++) {
            const struct cp_agent_view *a = out.agents[i];
            if (pc->after && strcmp(a->agent_id, pc->after) <= 0) continue;
            if (pc->health_mask && (a->health.status < 0 || a->health.status >= 32 ||
                                    !(pc->health_mask & (1u << a->health.status))))
                continue;
            page[k++] = a;
        }
        out.next = i < out.n_agents && k > 0 ? page[k - 1]->agent_id : NULL;
        out.agents = page;
        out.n_agents = k;
        out.total = k;
    }
    pc->k.cb(pc->k.cookie, &out);
    free(page);
    if (n) norm_free(n);
    free(n);
    free(pc->after);
    free(pc);
}
