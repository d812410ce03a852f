/* harness.c — the conformance suite's harness: loads a fresh backend instance per test through
 * core's plugin loader, runs each op on a libevent loop until its callback fires (bounded), and
 * deep-copies results, which backends only lend for the duration of the callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conformance.h"
#include "plugin_loader.h"

#define OP_TIMEOUT_S 10

/* ---- per-test memory ----------------------------------------------------------------------- */

struct chunk {
    struct chunk *next;
    max_align_t data[];
};

static struct chunk *chunks;

void *cx_alloc(size_t n)
{
    struct chunk *c = calloc(1, sizeof *c + n + 1);
    if (!c) {
        fprintf(stderr, "conformance: out of memory\n");
        abort();
    }
    c->next = chunks;
    chunks = c;
    return c->data;
}

static void cx_free_all(void)
{
    while (chunks) {
        struct chunk *c = chunks;
        chunks = c->next;
        free(c);
    }
}

char *cx_strdup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    return memcpy(cx_alloc(n), s, n);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *const *cx_caps(const char *csv, uint32_t *n)
{
    *n = 0;
    if (!csv || !*csv) return NULL;
    char *buf = cx_strdup(csv);
    size_t max = 1;
    for (const char *p = csv; *p; p++)
        max += *p == ',';
    const char **v = cx_alloc(max * sizeof *v);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        v[(*n)++] = tok;
    qsort(v, *n, sizeof *v, str_cmp);
    return v;
}

const char *tid(unsigned n)
{
    char buf[40];
    snprintf(buf, sizeof buf, "task_%024x", n);
    return cx_strdup(buf);
}

/* ---- instance per test ---------------------------------------------------------------------- */

static const char *plugin_path;
static char **base_options;
static int n_base_options;
static struct event_base *base;
static unsigned test_number;

struct waiter {
    struct waiter *next;
    const char *op;
    int calls;
    struct cp_result *copy;
    const char *bad_sizes;
};

static struct {
    struct plugin_set set;
    struct plugin *p;
    const struct cp_storage_ops *ops;
    void *st;
    struct cfg_option options[CFG_MAX_OPTIONS];
    size_t n_options;
    struct waiter *waiters;
} cx;

uint32_t cx_backend_minor(void)
{
    return cx.p ? cx.p->desc->abi_minor : CP_ABI_MINOR;
}

void cx_finish(void)
{
    if (base) event_base_free(base);
    base = NULL;
    host_set_event_base(NULL);
}

void cx_configure(const char *path, char **options, int n_options)
{
    plugin_path = path;
    base_options = options;
    n_base_options = n_options;
}

/* The options for test number n: the command line's, except that `prefix` becomes
 * "<prefix>t<n>:" so a shared backend (Redis) gives every test its own empty key space. */
static void make_options(unsigned n)
{
    cx.n_options = 0;
    for (int i = 0; i < n_base_options && cx.n_options < CFG_MAX_OPTIONS; i++) {
        char *eq = strchr(base_options[i], '=');
        if (!eq) continue;
        struct cfg_option *o = &cx.options[cx.n_options++];
        size_t klen = (size_t)(eq - base_options[i]);
        o->key = cx_alloc(klen + 1);
        memcpy(o->key, base_options[i], klen);
        if (strcmp(o->key, "prefix") == 0) {
            size_t len = strlen(eq + 1) + 32;
            o->value = cx_alloc(len);
            snprintf(o->value, len, "%st%u:", eq + 1, n);
        } else {
            o->value = cx_strdup(eq + 1);
        }
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

static void on_result(void *cookie, const struct cp_result *res)
{
    struct waiter *w = cookie;
    if (w->calls++ == 0) {
        w->bad_sizes = cx_bad_sizes(res);
        if (w->bad_sizes) w->bad_sizes = cx_strdup(w->bad_sizes);
        w->copy = cx_copy_result(res);
    }
}

static struct waiter *waiter_new(const char *op)
{
    struct waiter *w = cx_alloc(sizeof *w);
    w->op = op;
    w->next = cx.waiters;
    cx.waiters = w;
    return w;
}

/* Run the loop until w's callback ran (at once for synchronous backends). */
static const struct cp_result *wait_for(struct waiter *w)
{
    if (w->calls == 0) {
        int timed_out = 0;
        struct event *tev = evtimer_new(base, on_timeout, &timed_out);
        struct timeval tv = {OP_TIMEOUT_S, 0};
        evtimer_add(tev, &tv);
        while (w->calls == 0 && !timed_out)
            event_base_loop(base, EVLOOP_ONCE);
        event_free(tev);
        if (w->calls == 0) fail_msg("%s: no callback within %d s", w->op, OP_TIMEOUT_S);
    }
    if (w->calls != 1) fail_msg("%s: callback called %d times", w->op, w->calls);
    if (w->bad_sizes) fail_msg("%s: %s", w->op, w->bad_sizes);
    return w->copy;
}

int cx_setup(void **state)
{
    (void)state;
    if (!base) {
        base = event_base_new();
        if (!base) return -1;
        host_set_event_base(base);
    }
    memset(&cx, 0, sizeof cx);
    make_options(++test_number);
    char err[512];
    cx.p = plugin_load(&cx.set, plugin_path, CP_PLUGIN_STORAGE, cx.options, cx.n_options, err,
                       sizeof err);
    if (!cx.p) {
        print_error("cannot load the backend: %s\n", err);
        return -1;
    }
    cx.ops = cx.p->ops;
    cx.st = cx.p->state;
    const struct cp_stats_view *s = stats();
    if (s->agents_total != 0 || s->tasks_total != 0) {
        print_error("the store is not empty at the start of test %u (%llu agents, %llu tasks): "
                    "use a fresh prefix or an empty database\n",
                    test_number, (unsigned long long)s->agents_total,
                    (unsigned long long)s->tasks_total);
        return -1;
    }
    return 0;
}

/* Recount what the stats counters claim from the list ops: catches a counter that one kind of
 * op forgot to maintain, in every test. */
static void check_stats_recount(void)
{
    const struct cp_stats_view *s = stats();
    const struct cp_result *al = op_agent_list(NULL, -1);
    assert_rc(al, 0);
    assert_int_equal(s->agents_total, al->n_agents);
    if (al->n_agents <= 40) check_agent_pages(NULL, -1); /* every state a test left behind */
    uint64_t by_status[CP_AGENT_STATUS_COUNT] = {0}, by_health[CP_HEALTH_COUNT] = {0};
    uint64_t available = 0, open = 0;
    for (size_t i = 0; i < al->n_agents; i++) {
        const struct cp_agent_view *a = al->agents[i];
        by_status[a->status]++;
        by_health[a->health.status]++;
        available += cp_agent_is_available(a);
        open += a->health.circuit == CP_CIRCUIT_OPEN;
        for (uint32_t c = 0; c < a->n_capabilities; c++) {
            const struct cp_result *w = op_agent_list(a->capabilities[c], -1);
            assert_int_equal(
                count_of(s->agents_by_capability, s->n_agents_by_capability, a->capabilities[c]),
                w->n_agents);
        }
        uint64_t same_provider = 0;
        for (size_t j = 0; j < al->n_agents; j++)
            same_provider += strcmp(al->agents[j]->provider, a->provider) == 0;
        assert_int_equal(count_of(s->agents_by_provider, s->n_agents_by_provider, a->provider),
                         same_provider);
    }
    for (int i = 0; i < CP_AGENT_STATUS_COUNT; i++)
        assert_int_equal(s->agents_by_status[i], by_status[i]);
    for (int i = 0; i < CP_HEALTH_COUNT; i++)
        assert_int_equal(s->agents_by_health[i], by_health[i]);
    assert_int_equal(s->agents_available, available);
    assert_int_equal(s->circuits_open, open);
    uint64_t sum = 0;
    for (size_t i = 0; i < s->n_agents_by_capability; i++)
        sum += s->agents_by_capability[i].count;
    uint64_t caps_total = 0;
    for (size_t i = 0; i < al->n_agents; i++)
        caps_total += al->agents[i]->n_capabilities;
    assert_int_equal(sum, caps_total);

    const struct cp_result *tl = op_task_list(-1, NULL, 100000);
    assert_rc(tl, 0);
    assert_int_equal(s->tasks_total, tl->n_tasks);
    assert_int_equal(tl->total, tl->n_tasks);
    uint64_t t_status[CP_TASK_STATUS_COUNT] = {0}, t_prio[CP_PRIORITY_COUNT] = {0};
    for (size_t i = 0; i < tl->n_tasks; i++) {
        t_status[tl->tasks[i]->status]++;
        t_prio[tl->tasks[i]->priority]++;
        const char *type = tl->tasks[i]->task_type;
        uint64_t same = 0;
        for (size_t j = 0; j < tl->n_tasks; j++)
            same += strcmp(tl->tasks[j]->task_type, type) == 0;
        assert_int_equal(count_of(s->tasks_by_type, s->n_tasks_by_type, type), same);
    }
    for (int i = 0; i < CP_TASK_STATUS_COUNT; i++)
        assert_int_equal(s->tasks_by_status[i], t_status[i]);
    for (int i = 0; i < CP_PRIORITY_COUNT; i++)
        assert_int_equal(s->tasks_by_priority[i], t_prio[i]);
    sum = 0;
    for (size_t i = 0; i < s->n_tasks_by_type; i++)
        sum += s->tasks_by_type[i].count;
    assert_int_equal(sum, s->tasks_total);
}

int cx_teardown(void **state)
{
    (void)state;
    int rc = 0;
    if (cx.p) {
        check_stats_recount();
        for (struct waiter *w = cx.waiters; w; w = w->next) {
            if (w->calls != 1) {
                print_error("%s: callback called %d times\n", w->op, w->calls);
                rc = -1;
            }
        }
        plugin_set_unload(&cx.set);
    }
    cx_free_all();
    memset(&cx, 0, sizeof cx);
    return rc;
}

/* ---- raw ops ------------------------------------------------------------------------------- */

#define RUN(opname, call_args)                                                                     \
    do {                                                                                           \
        struct waiter *w = waiter_new(opname);                                                     \
        cx.ops->call_args;                                                                         \
        return wait_for(w);                                                                        \
    } while (0)

const struct cp_result *op_register(const struct cp_agent_view *in, int64_t now)
{
    RUN("agent_register", agent_register(cx.st, in, now, on_result, w));
}

const struct cp_result *op_agent_get(const char *id)
{
    RUN("agent_get", agent_get(cx.st, id, on_result, w));
}

const struct cp_result *op_agent_list(const char *caps_csv, int32_t status)
{
    struct cp_agent_filter f = {0};
    f.capabilities = cx_caps(caps_csv, &f.n_capabilities);
    f.status = status;
    RUN("agent_list", agent_list(cx.st, &f, on_result, w));
}

const struct cp_result *op_agent_page(const char *caps_csv, int32_t status, const char *after,
                                      uint32_t limit, uint32_t health_mask)
{
    struct cp_agent_filter f = {0};
    f.capabilities = cx_caps(caps_csv, &f.n_capabilities);
    f.status = status;
    f.after = after;
    f.limit = limit;
    f.health_mask = health_mask;
    RUN("agent_list", agent_list(cx.st, &f, on_result, w));
}

/* The whole list filtered by hand (after, health) is what the pages of `limit` give, in order,
 * each match once; pages may be short but never longer than limit, and never overshoot. */
static void check_pages(const struct cp_result *all, const char *caps_csv, int32_t status,
                        const char *after, uint32_t limit, uint32_t mask)
{
    const char *want[512];
    size_t n_want = 0;
    for (size_t i = 0; i < all->n_agents && n_want < 512; i++) {
        const struct cp_agent_view *a = all->agents[i];
        if (after && strcmp(a->agent_id, after) <= 0) continue;
        if (mask && !(mask & (1u << a->health.status))) continue;
        want[n_want++] = a->agent_id;
    }
    size_t got = 0, pages = 0, most = stats()->agents_total + 2; /* short pages: <= 1 per agent */
    const char *cursor = after;
    for (;;) {
        const struct cp_result *p = op_agent_page(caps_csv, status, cursor, limit, mask);
        assert_rc(p, 0);
        assert_true(p->n_agents <= limit);
        for (size_t i = 0; i < p->n_agents; i++) {
            if (got >= n_want || strcmp(p->agents[i]->agent_id, want[got]) != 0)
                fail_msg("page %zu (after %s, limit %u, health mask %#x): %s where %s belongs",
                         pages, cursor ? cursor : "-", limit, mask, p->agents[i]->agent_id,
                         got < n_want ? want[got] : "nothing");
            got++;
        }
        if (p->next && cursor) assert_true(strcmp(p->next, cursor) > 0); /* progress */
        if (!p->next) break;
        if (p->n_agents) assert_true(strcmp(p->next, p->agents[p->n_agents - 1]->agent_id) >= 0);
        cursor = p->next;
        assert_true(++pages <= most);
    }
    assert_int_equal(got, n_want);
}

void check_agent_pages(const char *caps_csv, int32_t status)
{
    const struct cp_result *all = op_agent_list(caps_csv, status);
    assert_rc(all, 0);
    const uint32_t unwell = (1u << CP_HEALTH_DEGRADED) | (1u << CP_HEALTH_UNHEALTHY);
    const uint32_t masks[] = {0, unwell, 1u << CP_HEALTH_HEALTHY, 1u << CP_HEALTH_UNKNOWN,
                              1u << CP_HEALTH_DEGRADED};
    for (uint32_t limit = 1; limit <= 3; limit++)
        for (size_t m = 0; m < sizeof masks / sizeof *masks; m++)
            check_pages(all, caps_csv, status, NULL, limit, masks[m]);
    /* Unpaged (limit 0) with after and a health mask: everything past it, in one answer. */
    for (size_t i = 0; i < all->n_agents; i += 2) {
        const char *after = all->agents[i]->agent_id;
        const struct cp_result *p = op_agent_page(caps_csv, status, after, 0, unwell);
        assert_rc(p, 0);
        assert_null(p->next);
        size_t k = 0;
        for (size_t j = i + 1; j < all->n_agents; j++)
            if (unwell & (1u << all->agents[j]->health.status)) {
                assert_true(k < p->n_agents);
                assert_str(p->agents[k++]->agent_id, all->agents[j]->agent_id);
            }
        assert_int_equal(k, p->n_agents);
        check_pages(all, caps_csv, status, after, 2, 0);
    }
}

const struct cp_result *op_heartbeat(const char *id, int32_t status, int64_t now)
{
    RUN("agent_heartbeat", agent_heartbeat(cx.st, id, status, now, on_result, w));
}

int cx_has_drain(void)
{
    return cx.ops->version >= 4 && cx.ops->agent_drain;
}

const struct cp_result *op_drain(const char *id, int drain, int64_t now)
{
    assert_true(cx_has_drain());
    RUN("agent_drain", agent_drain(cx.st, id, drain, now, on_result, w));
}

int cx_has_complete_next(void)
{
    return cx.ops->version >= 4 && cx.ops->task_complete_next;
}

const struct cp_result *op_complete_next(const struct cp_transition *tr,
                                         const struct cp_claim *next)
{
    assert_true(cx_has_complete_next());
    RUN("task_complete_next", task_complete_next(cx.st, tr, next, on_result, w));
}

int cx_has_tenants(void)
{
    return cx.ops->version >= 4 && cx.ops->tenant_put && cx.ops->tenant_delete &&
           cx.ops->tenant_list;
}

const struct cp_result *op_tenant_put(const char *id, uint32_t weight, uint32_t max_in_flight)
{
    assert_true(cx_has_tenants());
    struct cp_tenant_view t = {
        .size = sizeof t, .id = id, .weight = weight, .max_in_flight = max_in_flight};
    RUN("tenant_put", tenant_put(cx.st, &t, on_result, w));
}

const struct cp_result *op_tenant_delete(const char *id)
{
    assert_true(cx_has_tenants());
    RUN("tenant_delete", tenant_delete(cx.st, id, on_result, w));
}

const struct cp_result *op_tenant_list(void)
{
    assert_true(cx_has_tenants());
    RUN("tenant_list", tenant_list(cx.st, on_result, w));
}

const struct cp_result *op_claim_aging(const char *agent_id, int64_t now, int64_t aging_ms)
{
    struct cp_claim c = {.agent_id = agent_id, .now_ms = now, .aging_ms = aging_ms};
    RUN("task_claim", task_claim(cx.st, &c, on_result, w));
}

int cx_has_affinity(void)
{
    return cx.ops->version >= 4 && cx.ops->affinity_get && cx.ops->affinity_set;
}

const struct cp_result *op_affinity_get(const char *key, int64_t now)
{
    assert_true(cx_has_affinity());
    RUN("affinity_get", affinity_get(cx.st, key, now, on_result, w));
}

const struct cp_result *op_affinity_set(const struct cp_affinity *a)
{
    assert_true(cx_has_affinity());
    RUN("affinity_set", affinity_set(cx.st, a, on_result, w));
}

const struct cp_result *op_unregister(const char *id, int64_t now)
{
    RUN("agent_unregister", agent_unregister(cx.st, id, now, on_result, w));
}

const struct cp_result *op_set_health(const char *id, const struct cp_health_view *h,
                                      int32_t status, int32_t expect_status)
{
    RUN("agent_set_health", agent_set_health(cx.st, id, h, status, expect_status, on_result, w));
}

const struct cp_result *op_submit(const struct cp_task_view *t)
{
    RUN("task_submit", task_submit(cx.st, t, on_result, w));
}

const struct cp_result *op_task_get(const char *id)
{
    RUN("task_get", task_get(cx.st, id, on_result, w));
}

const struct cp_result *op_task_list(int32_t status, const char *type, uint32_t limit)
{
    struct cp_task_filter f = {status, type, limit};
    RUN("task_list", task_list(cx.st, &f, on_result, w));
}

const struct cp_result *op_claim(const char *agent_id, const char *caps_csv, int64_t now)
{
    struct cp_claim c = {0};
    c.agent_id = agent_id;
    c.now_ms = now;
    if (caps_csv) c.capabilities = cx_caps(caps_csv, &c.n_capabilities);
    RUN("task_claim", task_claim(cx.st, &c, on_result, w));
}

const struct cp_result *op_transition(const struct cp_transition *tr)
{
    RUN("task_transition", task_transition(cx.st, tr, on_result, w));
}

const struct cp_result *op_reap(const struct cp_reap *r)
{
    RUN("reap", reap(cx.st, r, on_result, w));
}

const struct cp_result *op_stats(void)
{
    RUN("stats", stats(cx.st, on_result, w));
}

int cx_has_quotas(void)
{
    return cx.ops->version >= 4 && cx.ops->quota_put && cx.ops->quota_delete && cx.ops->quota_list;
}
const struct cp_result *op_quota_put(const struct cp_quota_view *q)
{
    RUN("quota_put", quota_put(cx.st, q, on_result, w));
}
const struct cp_result *op_quota_delete(const char *id)
{
    RUN("quota_delete", quota_delete(cx.st, id, on_result, w));
}
const struct cp_result *op_quota_list(int64_t now)
{
    RUN("quota_list", quota_list(cx.st, now, on_result, w));
}

int cx_has_v4(void)
{
    return cx.ops->task_extend && cx.ops->task_retry && cx.ops->task_purge &&
           cx.ops->task_submit_batch;
}

const struct cp_result *op_extend(const struct cp_extend *x)
{
    RUN("task_extend", task_extend(cx.st, x, on_result, w));
}

const struct cp_result *op_retry(const char *id, int64_t now)
{
    struct cp_retry r = {.task_id = id, .now_ms = now};
    RUN("task_retry", task_retry(cx.st, &r, on_result, w));
}

const struct cp_result *op_purge(const struct cp_purge *p)
{
    RUN("task_purge", task_purge(cx.st, p, on_result, w));
}

const struct cp_result *op_submit_batch(const struct cp_task_view *const *tasks, size_t n)
{
    RUN("task_submit_batch", task_submit_batch(cx.st, tasks, n, on_result, w));
}
