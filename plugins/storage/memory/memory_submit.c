/* memory_submit.c — task_submit and task_submit_batch for the in-memory backend: a new task
 * record, or (2.4) the task already stored under the same idempotency key; a task whose
 * not_before lies ahead waits in mem.waiting instead of its band.
 *
 * A batch is checked whole before anything is stored (every item valid, no id taken or twice),
 * so that it fails without a trace; only running out of memory can stop it half-way. */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

/* The 2.4 members of a task view, as this build knows them (none when built for 2.0). */
struct submit_extra {
    int64_t not_before;
    const char *idem_key;
    int32_t backoff_type, backoff_jitter;
    int64_t backoff_ms, backoff_max_ms;
    int64_t est_in, est_out;
    const char *tenant; /* NULL: the default tenant */
};

static struct submit_extra extra_of(const struct cp_task_view *in)
{
    struct submit_extra x = {0};
#if CP_ABI_TARGET_MINOR >= 4 /* this file also builds the ABI 2.0 test fixture memory_minor0.so */
    x.not_before = in->not_before_ms > 0 ? in->not_before_ms : 0;
    x.idem_key = in->idempotency_key && in->idempotency_key[0] ? in->idempotency_key : NULL;
    x.backoff_type = in->backoff_type;
    x.backoff_jitter = in->backoff_jitter;
    x.backoff_ms = in->backoff_ms;
    x.backoff_max_ms = in->backoff_max_ms;
    x.est_in = in->est_input_tokens > 0 ? in->est_input_tokens : 0;
    x.est_out = in->est_output_tokens > 0 ? in->est_output_tokens : 0;
    x.tenant = in->tenant;
#else
    (void)in;
#endif
    return x;
}

static const char *submit_invalid(const struct cp_task_view *in)
{
    if (!in) return "task is required";
    if (!in->id || !in->id[0] || strlen(in->id) > UINT16_MAX) return "task id is required";
    if (!in->task_type || !in->task_type[0]) return "task_type is required";
    if (!in->payload_json) return "payload is required";
    if (in->priority < 0 || in->priority >= CP_PRIORITY_COUNT) return "priority out of range";
    if (!mem_caps_valid(in->required_capabilities, in->n_required))
        return "required_capabilities must be sorted and unique";
    struct submit_extra x = extra_of(in);
    if (x.backoff_type < 0 || x.backoff_type >= CP_BACKOFF_TYPE_COUNT)
        return "backoff_type out of range";
    return NULL;
}

static int idem_eq(const void *item, const void *key)
{
    const struct mem_task *t = item;
    return t->ext && t->ext->idem_key && strcmp(t->ext->idem_key, key) == 0;
}

static uint32_t idem_hash(const struct mem *m, const char *key)
{
    return (uint32_t)mem_hash64(m->seed ^ 0x5bd1e995u, key, strlen(key));
}

static struct mem_task *task_alloc(struct mem *m, const struct cp_task_view *in,
                                   const struct submit_extra *x)
{
    size_t id_len = strlen(in->id), pl_len = strlen(in->payload_json);
    struct mem_task *t = calloc(1, sizeof *t + id_len + 1 + pl_len + 1);
    if (!t) return NULL;
    t->id_len = (uint16_t)id_len;
    memcpy(t->data, in->id, id_len + 1);
    memcpy(t->data + id_len + 1, in->payload_json, pl_len + 1);
    t->heap_idx = MEM_NO_HEAP;
    struct mem_tenant *tn = mem_tenant_get(m, x->tenant);
    t->caps = tn ? mem_capset_get(m, in->required_capabilities, in->n_required, tn) : NULL;
    mem_tenant_put(m, tn); /* the set holds its own reference */
    t->type = mem_name_get(m, &m->types, in->task_type);
    int ok = t->caps && t->type && mem_dup_json_object(in->metadata_json, &t->metadata) == 0;
    if (ok && in->strategy && !(t->strategy = mem_strdup(in->strategy))) ok = 0;
    if (ok && (x->idem_key || x->backoff_type != CP_BACKOFF_NONE || x->est_in || x->est_out)) {
        struct mem_task_ext *e = mem_task_ext(t);
        if (!e || (x->idem_key && !(e->idem_key = mem_strdup(x->idem_key)))) {
            ok = 0;
        } else {
            e->backoff_type = x->backoff_type;
            e->backoff_jitter = x->backoff_jitter;
            e->backoff_ms = x->backoff_ms;
            e->backoff_max_ms = x->backoff_max_ms;
            e->est_in = x->est_in;
            e->est_out = x->est_out;
        }
    }
    if (!ok) {
        mem_task_free(m, t);
        return NULL;
    }
    return t;
}

/* Stores one valid task. 0 with *out and *created (1: stored now, 0: the task holding its
 * idempotency key); CP_ERR_CONFLICT with *out the task holding its id; CP_ERR_NOMEM. */
static int submit_one(struct mem *m, const struct cp_task_view *in, struct mem_task **out,
                      int *created)
{
    struct submit_extra x = extra_of(in);
    struct mem_task *t;
    *created = 0;
    if (x.idem_key && (t = mem_hash_get(&m->idem, idem_hash(m, x.idem_key), idem_eq, x.idem_key))) {
        *out = t;
        return 0;
    }
    if ((t = mem_task_find(m, in->id))) {
        *out = t;
        return CP_ERR_CONFLICT;
    }
    *out = NULL;
    if (x.not_before > in->created_at_ms && mem_theap_reserve(&m->waiting) != 0)
        return CP_ERR_NOMEM;
    if (!(t = task_alloc(m, in, &x))) return CP_ERR_NOMEM;
    if (mem_hash_put(&m->tasks, mem_task_hash(m, in->id), t) != 0) {
        mem_task_free(m, t);
        return CP_ERR_NOMEM;
    }
    if (x.idem_key) {
        t->ext->idem_hash = idem_hash(m, x.idem_key);
        if (mem_hash_put(&m->idem, t->ext->idem_hash, t) != 0) {
            mem_hash_del(&m->tasks, mem_task_hash(m, in->id), t);
            mem_task_free(m, t);
            return CP_ERR_NOMEM;
        }
    }
    t->priority = (uint8_t)in->priority;
    t->charged_band = t->priority;
    t->status = CP_TASK_PENDING;
    t->created_at = in->created_at_ms;
    t->pending_since = in->created_at_ms;
    t->timeout_ms = in->timeout_ms;
    t->max_retries = in->max_retries;
    t->retries = in->retries;
    t->attempt = in->attempt;
    t->not_before = x.not_before;
    mem_all_insert(m, t);
    mem_pending_enqueue(m, t, in->created_at_ms);
    mem_task_stats(m, t, 1);
    *out = t;
    *created = 1;
    return 0;
}

void mem_op_task_submit(void *st, const struct cp_task_view *in, cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    const char *bad = submit_invalid(in);
    struct mem_task *t = NULL;
    int created = 0, rc = bad ? CP_ERR_INVALID : submit_one(m, in, &t, &created);
    if (rc == 0 || rc == CP_ERR_CONFLICT) {
        struct cp_task_view tv;
        mem_task_view(t, &tv);
        struct cp_result res;
        memset(&res, 0, sizeof res);
        res.size = sizeof res;
        res.rc = rc;
        res.message = rc ? "a task with this id exists" : NULL;
        res.created = created;
        res.task = &tv;
#if CP_ABI_TARGET_MINOR >= 4
        /* affinity hold (memory_affinity_hold.c): reported by when it ends */
        if (rc == 0 && created)
            res.next_due_ms =
                mem_hold_at_submit(m, t, in->affinity_key, in->affinity_hold_ms, in->created_at_ms);
#endif
        cb(cookie, &res);
    } else {
        mem_reply_err(cb, cookie, rc, bad ? bad : "out of memory");
    }
    mem_leave(m);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when the item will find its task by its idempotency key (and so stores nothing). */
static int found_by_key(struct mem *m, const struct cp_task_view *in)
{
    struct submit_extra x = extra_of(in);
    return x.idem_key && mem_hash_get(&m->idem, idem_hash(m, x.idem_key), idem_eq, x.idem_key);
}

/* Why the batch cannot be stored as a whole (*rc set), or NULL. */
static const char *batch_invalid(struct mem *m, const struct cp_task_view *const *tasks, size_t n,
                                 int *rc)
{
    *rc = CP_ERR_INVALID;
    if (n && !tasks) return "tasks is NULL";
    for (size_t i = 0; i < n; i++) {
        const char *bad = submit_invalid(tasks[i]);
        if (bad) return bad;
    }
    for (size_t i = 0; i < n; i++) {
        if (mem_task_find(m, tasks[i]->id) && !found_by_key(m, tasks[i])) {
            *rc = CP_ERR_CONFLICT;
            return "a task with this id exists";
        }
    }
    const char **ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) {
        *rc = CP_ERR_NOMEM;
        return "out of memory";
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = tasks[i]->id;
    qsort(ids, n, sizeof *ids, cmp_id);
    const char *bad = NULL;
    for (size_t i = 1; i < n && !bad; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0) bad = "a task id appears twice in the batch";
    free(ids);
    return bad;
}

void mem_op_task_submit_batch(void *st, const struct cp_task_view *const *tasks, size_t n,
                              cp_storage_cb cb, void *cookie)
{
    struct mem *m = st;
    mem_enter(m);
    int rc;
    const char *bad = batch_invalid(m, tasks, n, &rc);
    struct mem_task **recs = bad ? NULL : calloc(n ? n : 1, sizeof *recs);
    struct cp_task_view *views = bad ? NULL : calloc(n ? n : 1, sizeof *views);
    const struct cp_task_view **ptrs = bad ? NULL : calloc(n ? n : 1, sizeof *ptrs);
    if (bad) {
        mem_reply_err(cb, cookie, rc, bad);
    } else if (!recs || !views || !ptrs) {
        mem_reply_err(cb, cookie, CP_ERR_NOMEM, "out of memory");
    } else {
        size_t k = 0;
        rc = 0;
        while (k < n && rc == 0) {
            int created;
            rc = submit_one(m, tasks[k], &recs[k], &created);
            if (rc == 0) k++;
        }
        /* Views once every item is in: each shows the state the whole batch left. */
        for (size_t i = 0; i < k; i++) {
            mem_task_view(recs[i], &views[i]);
            ptrs[i] = &views[i];
        }
        struct cp_result res;
        memset(&res, 0, sizeof res);
        res.size = sizeof res;
        res.rc = rc;
        res.message = rc ? "out of memory" : NULL;
        res.tasks = ptrs;
        res.n_tasks = k;
        cb(cookie, &res);
    }
    free(recs);
    free(views);
    free(ptrs);
    mem_leave(m);
}
