/* storage_compat.c — the wrapper that runs a storage plugin built for an older minor of this ABI
 * major (storage_compat.h). Only such plugins pay for it: one small allocation per operation,
 * and a copy of what its results hold only when a struct is shorter than this host's.
 *
 * Growing the ABI (cp/abi.h) touches this file in three ways, each enforced below:
 *   - a member appended to a struct a plugin fills: nothing to do, the copy by `size` covers
 *     it; the *_MIN sizes (storage_compat_results.c) stay the x.0 sizes (a plugin shorter than
 *     those is malformed);
 *   - an op appended to struct cp_storage_ops: give it a wrapper and list it in wrap_table()
 *     behind the ops version that appended it (the assertion after the table fails until then);
 *   - an enum value appended: add this minor's count to its table (one entry per minor, asserted).
 * What the plugin returns is read by storage_compat_results.c.
 */
#include "storage_compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cp/storage.h>

#include "log.h"
#include "plugin_loader.h"
#include "storage_compat_int.h"

#if CP_ABI_TARGET_MINOR != CP_ABI_MINOR
#error "cpd itself is always built for the minor of its own headers"
#endif

/* How many values each guarded enum had at each minor of this major (index: the minor). */
static const int agent_statuses_at[] = {6, 6, 6, 6, 6};
static const int task_statuses_at[] = {7, 7, 7, 7, 7};
static const int priorities_at[] = {4, 4, 4, 4, 4};
static const int healths_at[] = {5, 5, 5, 5, 5};
static const int circuits_at[] = {3, 3, 3, 3, 3};
static const int transitions_at[] = {5, 5, 5, 5, 5}; /* CP_TR_START (1) .. CP_TR_RELEASE (5) */
#define ONE_PER_MINOR(t)                                                                           \
    _Static_assert(sizeof t / sizeof *t == CP_ABI_MINOR + 1, #t ": one entry per minor")
ONE_PER_MINOR(agent_statuses_at);
ONE_PER_MINOR(task_statuses_at);
ONE_PER_MINOR(priorities_at);
ONE_PER_MINOR(healths_at);
ONE_PER_MINOR(circuits_at);
ONE_PER_MINOR(transitions_at);

int storage_compat_enum_count(enum compat_enum which, uint32_t minor)
{
    static const int *const tables[] = {agent_statuses_at, task_statuses_at, priorities_at,
                                        healths_at,        circuits_at,      transitions_at};
    if ((unsigned)which >= sizeof tables / sizeof *tables || minor > CP_ABI_MINOR) return 0;
    return tables[which][minor];
}

/* ---- operations ------------------------------------------------------------------------- */

static void reply_error(cp_storage_cb cb, void *cookie, int rc, const char *fmt, ...)
    CP_PRINTF(4, 5);
static void reply_error(cp_storage_cb cb, void *cookie, int rc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct cp_result res = {.size = sizeof res, .rc = rc, .message = msg};
    cb(cookie, &res);
}

static struct call *call_new(struct compat *c, cp_storage_cb cb, void *cookie)
{
    struct call *k = malloc(sizeof *k);
    if (!k) {
        reply_error(cb, cookie, CP_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *k = (struct call){c, cb, cookie};
    return k;
}

/* 1 when `value` of `which` existed at the plugin's minor; else answers CP_ERR_INVALID. -1 is
 * let through where it means "any" / "unchanged" (allow_none). */
static int known(struct compat *c, enum compat_enum which, int32_t value, int allow_none,
                 const char *what, cp_storage_cb cb, void *cookie)
{
    int count = storage_compat_enum_count(which, c->minor);
    int lo = which == COMPAT_TRANSITION ? 1 : 0,
        hi = which == COMPAT_TRANSITION ? count + 1 : count;
    if ((allow_none && value == -1) || (value >= lo && value < hi)) return 1;
    reply_error(cb, cookie, CP_ERR_INVALID, "storage plugin '%s' (ABI %d.%u) does not know %s %d",
                c->name, CP_ABI_MAJOR, c->minor, what, (int)value);
    return 0;
}

#define FORWARD(op, ...)                                                                           \
    do {                                                                                           \
        struct call *k = call_new(c, cb, cookie);                                                  \
        if (k) c->ops->op(c->st, __VA_ARGS__, compat_on_result, k);                                \
    } while (0)

static void w_agent_register(void *st, const struct cp_agent_view *in, int64_t now_ms,
                             cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    FORWARD(agent_register, in, now_ms);
}

static void w_agent_get(void *st, const char *id, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    FORWARD(agent_get, id);
}

static void w_agent_list(void *st, const struct cp_agent_filter *f, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    if (f && !known(c, COMPAT_AGENT_STATUS, f->status, 1, "agent status", cb, cookie)) return;
    if (c->minor >= 4 || !f || (!f->after && !f->limit && !f->health_mask)) {
        FORWARD(agent_list, f);
        return;
    }
    struct page_call *pc = calloc(1, sizeof *pc);
    char *after = f->after ? strdup(f->after) : NULL;
    if (!pc || (f->after && !after)) {
        free(pc);
        free(after);
        reply_error(cb, cookie, CP_ERR_NOMEM, "out of memory");
        return;
    }
    *pc = (struct page_call){{c, cb, cookie}, after, f->limit, f->health_mask};
    c->ops->agent_list(c->st, f, compat_on_listed_page, pc);
}

static void w_agent_heartbeat(void *st, const char *id, int32_t status, int64_t now_ms,
                              cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    if (!known(c, COMPAT_AGENT_STATUS, status, 1, "agent status", cb, cookie)) return;
    FORWARD(agent_heartbeat, id, status, now_ms);
}

static void w_agent_unregister(void *st, const char *id, int64_t now_ms, cp_storage_cb cb,
                               void *cookie)
{
    struct compat *c = st;
    FORWARD(agent_unregister, id, now_ms);
}

static void w_agent_set_health(void *st, const char *id, const struct cp_health_view *h,
                               int32_t status, int32_t expect, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    if (!known(c, COMPAT_AGENT_STATUS, status, 1, "agent status", cb, cookie) ||
        !known(c, COMPAT_AGENT_STATUS, expect, 1, "agent status", cb, cookie) ||
        (h && !known(c, COMPAT_HEALTH, h->status, 0, "health", cb, cookie)) ||
        (h && !known(c, COMPAT_CIRCUIT, h->circuit, 0, "circuit state", cb, cookie)))
        return;
    FORWARD(agent_set_health, id, h, status, expect);
}

static void w_task_submit(void *st, const struct cp_task_view *t, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    if (t && (!known(c, COMPAT_TASK_STATUS, t->status, 0, "task status", cb, cookie) ||
              !known(c, COMPAT_PRIORITY, t->priority, 0, "priority", cb, cookie)))
        return;
    FORWARD(task_submit, t);
}

static void w_task_get(void *st, const char *id, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    FORWARD(task_get, id);
}

static void w_task_list(void *st, const struct cp_task_filter *f, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    if (f && !known(c, COMPAT_TASK_STATUS, f->status, 1, "task status", cb, cookie)) return;
    FORWARD(task_list, f);
}

static void w_task_claim(void *st, const struct cp_claim *cl, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    FORWARD(task_claim, cl);
}

static void w_task_transition(void *st, const struct cp_transition *tr, cp_storage_cb cb,
                              void *cookie)
{
    struct compat *c = st;
    if (tr && !known(c, COMPAT_TRANSITION, tr->kind, 0, "transition kind", cb, cookie)) return;
    FORWARD(task_transition, tr);
}

static void w_reap(void *st, const struct cp_reap *r, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    FORWARD(reap, r);
}

static void w_task_extend(void *st, const struct cp_extend *x, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    FORWARD(task_extend, x);
}

static void w_task_retry(void *st, const struct cp_retry *r, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    FORWARD(task_retry, r);
}

static void w_task_purge(void *st, const struct cp_purge *p, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    FORWARD(task_purge, p);
}

static void w_task_submit_batch(void *st, const struct cp_task_view *const *tasks, size_t n,
                                cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    for (size_t i = 0; i < n; i++)
        if (tasks[i] &&
            (!known(c, COMPAT_TASK_STATUS, tasks[i]->status, 0, "task status", cb, cookie) ||
             !known(c, COMPAT_PRIORITY, tasks[i]->priority, 0, "priority", cb, cookie)))
            return;
    FORWARD(task_submit_batch, tasks, n);
}

static void w_stats(void *st, cp_storage_cb cb, void *cookie)
{
    struct compat *c = st;
    struct call *k = call_new(c, cb, cookie);
    if (k) c->ops->stats(c->st, compat_on_result, k);
}

static void w_watch(void *st, void (*on_change)(void *arg, const char *kind, const char *id),
                    void *arg)
{
    struct compat *c = st;
    c->ops->watch(c->st, on_change, arg);
}

static int w_is_available(void *st)
{
    struct compat *c = st;
    return c->ops->is_available(c->st);
}

static void w_status(void *st, struct cp_storage_status *out)
{
    struct compat *c = st;
    c->ops->status(c->st, out);
}

/* A change as the host knows it: members past the plugin's size read as "not applicable". */
static void on_feed_change(void *arg, const struct cp_change *in)
{
    struct compat *c = arg;
    if (!c->on_change || !in || in->size < offsetof(struct cp_change, priority)) return;
    struct cp_change ch;
    compat_copy_sized(&ch, sizeof ch, in, in->size);
    if (in->size < sizeof ch) ch.priority = -1;
    c->on_change(c->on_change_arg, &ch);
}

static int w_feed(void *st, int on, void (*on_change)(void *, const struct cp_change *), void *arg)
{
    struct compat *c = st;
    c->on_change = on ? on_change : NULL;
    c->on_change_arg = on ? arg : NULL;
    return c->ops->feed(c->st, on, on ? on_feed_change : NULL, on ? c : NULL);
}

static void w_agent_drain(void *st, const char *id, int drain, int64_t now_ms, cp_storage_cb cb,
                          void *cookie)
{
    struct compat *c = st;
    FORWARD(agent_drain, id, drain, now_ms);
}

static void w_destroy(void *st)
{
    struct compat *c = st;
    if (c->ops->destroy) c->ops->destroy(c->st); /* fails its operations in flight through us */
    free(c);
}

/* The wrapper table: every op the plugin's table has, by its version. */
static void wrap_table(struct compat *c)
{
    struct cp_storage_ops *t = &c->table;
    const struct cp_storage_ops *o = c->ops;
    t->version = CP_STORAGE_OPS_VERSION;
    t->destroy = w_destroy;
    /* ops version 1 */
    t->agent_register = w_agent_register;
    t->agent_get = w_agent_get;
    t->agent_list = w_agent_list;
    t->agent_heartbeat = w_agent_heartbeat;
    t->agent_unregister = w_agent_unregister;
    t->agent_set_health = w_agent_set_health;
    t->task_submit = w_task_submit;
    t->task_get = w_task_get;
    t->task_list = w_task_list;
    t->task_claim = w_task_claim;
    t->task_transition = w_task_transition;
    t->reap = w_reap;
    t->stats = w_stats;
    t->watch = o->watch ? w_watch : NULL;
    t->is_available = o->is_available ? w_is_available : NULL;
    /* An op appended later: `if (o->version >= <its version> && o-><op>) t-><op> = w_<op>;` */
    if (o->version >= 2 && o->status) t->status = w_status; /* 2.2 */
    /* 2.3; called without a state (before create()), so the plugin's own function serves */
    if (o->version >= 3) t->validate_options = o->validate_options;
    if (o->version >= 4) { /* 2.4; agent_list's pages are in w_agent_list */
        if (o->feed) t->feed = w_feed;
        t->task_extend = o->task_extend ? w_task_extend : NULL;
        t->task_retry = o->task_retry ? w_task_retry : NULL;
        t->task_purge = o->task_purge ? w_task_purge : NULL;
        t->task_submit_batch = o->task_submit_batch ? w_task_submit_batch : NULL;
        t->agent_drain = o->agent_drain ? w_agent_drain : NULL;
        /* A plugin that has it is built for 2.4 and never runs through this layer (whose
         * results would not normalize .next_claim): cpd makes the two calls instead. */
        t->task_complete_next = NULL;
        /* Provider quotas (2.4, last): only a plugin built for 2.4 has them, and it never runs
         * through this layer; cpd answers 501 not_supported for quotas. */
        t->quota_put = NULL;
        t->quota_delete = NULL;
        t->quota_list = NULL;
        /* Tenants likewise: a plugin older than this host's 2.4 ignores them. */
        t->tenant_put = NULL, t->tenant_delete = NULL, t->tenant_list = NULL;
        /* Likewise: affinity (2.4) is only in plugins that never run through this layer. */
        t->affinity_get = NULL;
        t->affinity_set = NULL;
    }
}
_Static_assert(sizeof(struct cp_storage_ops) ==
                   offsetof(struct cp_storage_ops, affinity_set) +
                       sizeof(void (*)(void *, const struct cp_affinity *, cp_storage_cb, void *)),
               "an op was appended to struct cp_storage_ops: wrap it in wrap_table()");

int storage_compat_wrap(struct plugin *p, char *err, size_t errlen)
{
    const struct cp_storage_ops *ops = p->ops;
    if (p->desc->abi_minor == CP_ABI_MINOR && ops->version == CP_STORAGE_OPS_VERSION) return 0;
    struct compat *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "plugin %s: out of memory", p->path);
        return -1;
    }
    c->ops = ops;
    c->st = p->state;
    c->minor = p->desc->abi_minor;
    c->name = p->desc->name;
    wrap_table(c);
    p->ops = &c->table;
    p->state = c;
    log_info("storage plugin '%s' (%s) is built for ABI %u.%u, storage ops version %u; this cpd "
             "speaks %d.%d, ops version %d: running it through the compatibility layer",
             p->desc->name, p->path, (unsigned)p->desc->abi_major, (unsigned)c->minor,
             (unsigned)ops->version, CP_ABI_MAJOR, CP_ABI_MINOR, CP_STORAGE_OPS_VERSION);
    return 0;
}

int storage_compat_active(const struct plugin *p)
{
    return p && p->ops && ((const struct cp_storage_ops *)p->ops)->destroy == w_destroy;
}
