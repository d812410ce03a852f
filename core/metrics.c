/* metrics.c — process-wide counters and histograms, rendered as Prometheus text exposition
 * format 0.0.4 for GET /metrics. Single-threaded (the event loop). Labelled series live in small
 * open-addressing tables: an entry is allocated the first time its label is seen, never again;
 * each table has a fixed capacity, and labels beyond it are counted under "other" so a client
 * inventing task types cannot grow memory without bound. */
#include "metrics.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "xalloc.h"

/* Fixed buckets (seconds) shared by every histogram: sub-millisecond claims up to one-minute
 * long polls and probe timeouts. */
#define N_BUCKETS 16
static const double bucket_bounds[N_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const char *const bucket_le[N_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",   "0.5",   "1",      "2.5",   "5",    "10",    "30",   "60"};

struct hist {
    uint64_t buckets[N_BUCKETS]; /* per bucket, not cumulative; +Inf is count */
    uint64_t count;
    double sum;
};

static void hist_observe(struct hist *h, double v)
{
    if (!(v >= 0)) v = 0; /* negative or NaN: a clock step, not a real duration */
    for (int i = 0; i < N_BUCKETS; i++) {
        if (v <= bucket_bounds[i]) {
            h->buckets[i]++;
            break;
        }
    }
    h->count++;
    h->sum += v;
}

/* ---- label tables --------------------------------------------------------------------- */

struct lentry {
    uint64_t hash;
    size_t keylen;
    char *key; /* stored right after the family's entry struct; NUL-terminated */
};

struct lmap {
    size_t cap;   /* most distinct entries, the overflow entry included */
    size_t esize; /* size of the family's entry struct (struct lentry first) */
    const char *overflow_key;
    size_t n;
    struct lentry **order; /* insertion order, for stable output */
    struct lentry **slots; /* nslots = power of two >= 2 * cap */
    size_t nslots;
};

#define MAX_KEY 300 /* longer labels are truncated: a route template or identifier is shorter */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void lmap_init(struct lmap *m)
{
    size_t ns = 16;
    while (ns < 2 * m->cap)
        ns *= 2;
    m->order = xcalloc(m->cap, sizeof *m->order);
    m->slots = xcalloc(ns, sizeof *m->slots);
    m->nslots = ns;
}

static void lmap_clear(struct lmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->order[i]);
    free(m->order);
    free(m->slots);
    m->order = NULL;
    m->slots = NULL;
    m->nslots = 0;
    m->n = 0;
}

/* The entry for `key` (created zeroed on first sight), or the overflow entry when the table is
 * full. */
static void *lmap_get(struct lmap *m, const char *key, size_t len)
{
    if (len > MAX_KEY) len = MAX_KEY;
    if (!m->slots) lmap_init(m);
    uint64_t h = hash_bytes(key, len);
    size_t i = (size_t)h & (m->nslots - 1);
    for (; m->slots[i]; i = (i + 1) & (m->nslots - 1)) {
        struct lentry *e = m->slots[i];
        if (e->hash == h && e->keylen == len && memcmp(e->key, key, len) == 0) return e;
    }
    /* One place is kept for the overflow entry. */
    int is_overflow = strlen(m->overflow_key) == len && memcmp(m->overflow_key, key, len) == 0;
    if (m->n >= m->cap || (m->n + 1 >= m->cap && !is_overflow))
        return is_overflow ? NULL : lmap_get(m, m->overflow_key, strlen(m->overflow_key));
    struct lentry *e = xcalloc(1, m->esize + len + 1);
    e->hash = h;
    e->keylen = len;
    e->key = (char *)e + m->esize;
    memcpy(e->key, key, len);
    m->slots[i] = e;
    m->order[m->n++] = e;
    return e;
}

/* ---- the series ------------------------------------------------------------------------ */

struct task_entry {
    struct lentry hdr; /* key: task_type */
    uint64_t counts[MET_TASK_EVENT_COUNT];
};

struct http_entry {
    struct lentry hdr; /* key: "<status> <route>" */
    struct hist h;
};

struct probe_entry {
    struct lentry hdr; /* key: probe type */
    uint64_t pass, fail;
    struct hist h;
};

#define MAX_TASK_TYPES 1000
#define MAX_HTTP_SERIES 1000
#define MAX_PROBE_TYPES 64

static struct lmap task_map = {
    MAX_TASK_TYPES + 1, sizeof(struct task_entry), "other", 0, NULL, NULL, 0};
static struct lmap http_map = {
    MAX_HTTP_SERIES + 1, sizeof(struct http_entry), "other other", 0, NULL, NULL, 0};
static struct lmap probe_map = {
    MAX_PROBE_TYPES + 1, sizeof(struct probe_entry), "other", 0, NULL, NULL, 0};
static struct hist claim_wait;

void metrics_task_event(const char *task_type, int event)
{
    if (event < 0 || event >= MET_TASK_EVENT_COUNT) return;
    if (!task_type || !*task_type) task_type = "unknown";
    struct task_entry *e = lmap_get(&task_map, task_type, strlen(task_type));
    if (e) e->counts[event]++;
}

void metrics_claim_wait(double seconds)
{
    hist_observe(&claim_wait, seconds);
}

/* Every request records one observation: a small direct-mapped memo from (route pointer,
 * status) to its entry spares the key formatting and hashing. Route names are static strings
 * (the route table's patterns); metrics_reset() empties the memo with the tables. */
#define HTTP_MEMO 64
static struct {
    const char *route;
    int status;
    struct http_entry *e;
} http_memo[HTTP_MEMO];

void metrics_http_request(const char *route, int status, double seconds)
{
    char key[MAX_KEY + 16];
    if (!route || !*route) route = "unmatched";
    size_t slot = (((uintptr_t)route >> 3) ^ (unsigned)status * 31u) % HTTP_MEMO;
    struct http_entry *e = NULL;
    if (http_memo[slot].route == route && http_memo[slot].status == status) {
        e = http_memo[slot].e;
    } else {
        int n = snprintf(key, sizeof key, "%d %s", status, route);
        if (n < 0) return;
        size_t len = (size_t)n < sizeof key ? (size_t)n : sizeof key - 1;
        e = lmap_get(&http_map, key, len);
        if (!e) return;
        http_memo[slot].route = route;
        http_memo[slot].status = status;
        http_memo[slot].e = e;
    }
    hist_observe(&e->h, seconds);
}

void metrics_probe_result(const char *probe_type, int ok, double latency_seconds)
{
    if (!probe_type || !*probe_type) probe_type = "unknown";
    struct probe_entry *e = lmap_get(&probe_map, probe_type, strlen(probe_type));
    if (!e) return;
    if (ok)
        e->pass++;
    else
        e->fail++;
    hist_observe(&e->h, latency_seconds);
}

static uint64_t affinity_placed[3];

void metrics_affinity_placed(int result)
{
    if (result >= 0 && result < 3) affinity_placed[result]++;
}

static uint64_t affinity_holds;

void metrics_affinity_held(void)
{
    affinity_holds++;
}

void metrics_reset(void)
{
    memset(affinity_placed, 0, sizeof affinity_placed);
    affinity_holds = 0;
    lmap_clear(&task_map);
    lmap_clear(&http_map);
    memset(http_memo, 0, sizeof http_memo);
    lmap_clear(&probe_map);
    memset(&claim_wait, 0, sizeof claim_wait);
}

/* ---- rendering ------------------------------------------------------------------------- */

/* A label value with \, " and newline escaped (the exposition format's three escapes). */
static void put_label(struct evbuffer *out, const char *s, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = s[i] == '\\' ? "\\\\" : s[i] == '"' ? "\\\"" : s[i] == '\n' ? "\\n" : 0;
        if (!esc) {
            run++;
            continue;
        }
        evbuffer_add(out, s + i - run, run);
        evbuffer_add(out, esc, 2);
        run = 0;
    }
    evbuffer_add(out, s + len - run, run);
}

static void put_head(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} n */
static void put_u64(struct evbuffer *out, const char *name, const char *label, const char *value,
                    size_t vlen, uint64_t n)
{
    evbuffer_add_printf(out, "%s{%s=\"", name, label);
    put_label(out, value, vlen);
    evbuffer_add_printf(out, "\"} %" PRIu64 "\n", n);
}

/* The _bucket/_sum/_count lines of one histogram series; `labels` is already-escaped text
 * ("a=\"x\",") or "". */
static void put_hist(struct evbuffer *out, const char *name, const char *labels, size_t llen,
                     const struct hist *h)
{
    uint64_t cum = 0;
    for (int i = 0; i < N_BUCKETS; i++) {
        cum += h->buckets[i];
        evbuffer_add_printf(out, "%s_bucket{", name);
        evbuffer_add(out, labels, llen);
        evbuffer_add_printf(out, "le=\"%s\"} %" PRIu64 "\n", bucket_le[i], cum);
    }
    evbuffer_add_printf(out, "%s_bucket{", name);
    evbuffer_add(out, labels, llen);
    evbuffer_add_printf(out, "le=\"+Inf\"} %" PRIu64 "\n", h->count);
    /* _sum/_count carry the same labels minus le: drop the trailing comma */
    size_t bare = llen > 0 ? llen - 1 : 0;
    evbuffer_add_printf(out, "%s_sum%s", name, bare ? "{" : "");
    evbuffer_add(out, labels, bare);
    evbuffer_add_printf(out, "%s %.17g\n", bare ? "}" : "", h->sum);
    evbuffer_add_printf(out, "%s_count%s", name, bare ? "{" : "");
    evbuffer_add(out, labels, bare);
    evbuffer_add_printf(out, "%s %" PRIu64 "\n", bare ? "}" : "", h->count);
}

/* Escaped `key="value",` into a scratch buffer for put_hist. */
static void labels_add(struct evbuffer *scratch, const char *key, const char *value, size_t len)
{
    evbuffer_add_printf(scratch, "%s=\"", key);
    put_label(scratch, value, len);
    evbuffer_add(scratch, "\",", 2);
}

static void put_labelled_hist(struct evbuffer *out, struct evbuffer *scratch, const char *name,
                              const struct hist *h)
{
    size_t llen = evbuffer_get_length(scratch);
    const char *labels = (const char *)evbuffer_pullup(scratch, -1);
    put_hist(out, name, labels ? labels : "", labels ? llen : 0, h);
    evbuffer_drain(scratch, llen);
}

static void render_stats(struct evbuffer *out, const struct cp_stats_view *st)
{
    put_head(out, "cp_agents", "gauge", "Registered agents by status.");
    for (int i = 0; i < CP_AGENT_STATUS_COUNT; i++) {
        const char *s = cp_agent_status_name(i);
        put_u64(out, "cp_agents", "status", s, strlen(s), st->agents_by_status[i]);
    }
    put_head(out, "cp_agents_available", "gauge",
             "Agents that could take a task now (ready or busy below their limit, circuit not "
             "open).");
    evbuffer_add_printf(out, "cp_agents_available %" PRIu64 "\n", st->agents_available);
    put_head(out, "cp_agents_by_health", "gauge", "Registered agents by health.");
    for (int i = 0; i < CP_HEALTH_CRITICAL; i++) {
        const char *s = cp_health_name(i);
        put_u64(out, "cp_agents_by_health", "health", s, strlen(s), st->agents_by_health[i]);
    }
    put_head(out, "cp_circuits_open", "gauge", "Agents whose circuit breaker is open.");
    evbuffer_add_printf(out, "cp_circuits_open %" PRIu64 "\n", st->circuits_open);
    put_head(out, "cp_tasks", "gauge", "Stored tasks by status (terminal ones until retention).");
    for (int i = 0; i < CP_TASK_STATUS_COUNT; i++) {
        const char *s = cp_task_status_name(i);
        put_u64(out, "cp_tasks", "status", s, strlen(s), st->tasks_by_status[i]);
    }
}

static void render_task_counters(struct evbuffer *out)
{
    static const char *const names[MET_TASK_EVENT_COUNT] = {
        "cp_tasks_submitted_total", "cp_tasks_completed_total", "cp_tasks_failed_total",
        "cp_tasks_timeout_total"};
    static const char *const helps[MET_TASK_EVENT_COUNT] = {
        "Tasks submitted, by task type.", "Tasks completed, by task type.",
        "Task failures reported by agents (requeued or final), by task type.",
        "Task attempts that ran past their timeout, by task type."};
    for (int ev = 0; ev < MET_TASK_EVENT_COUNT; ev++) {
        put_head(out, names[ev], "counter", helps[ev]);
        for (size_t i = 0; i < task_map.n; i++) {
            const struct task_entry *e = (const struct task_entry *)task_map.order[i];
            put_u64(out, names[ev], "task_type", e->hdr.key, e->hdr.keylen, e->counts[ev]);
        }
    }
}

void metrics_render(struct evbuffer *out, const struct cp_stats_view *stats)
{
    struct evbuffer *scratch = xevbuffer_new();
    if (stats) render_stats(out, stats);
    render_task_counters(out);

    put_head(out, "cp_claim_wait_seconds", "histogram",
             "Time from a claim request's arrival to a task handed out (long polls included).");
    put_hist(out, "cp_claim_wait_seconds", "", 0, &claim_wait);

    put_head(out, "cp_http_request_duration_seconds", "histogram",
             "HTTP request handling time, by route template and response status.");
    for (size_t i = 0; i < http_map.n; i++) {
        const struct http_entry *e = (const struct http_entry *)http_map.order[i];
        const char *sp = memchr(e->hdr.key, ' ', e->hdr.keylen);
        size_t slen = sp ? (size_t)(sp - e->hdr.key) : 0;
        const char *route = sp ? sp + 1 : e->hdr.key;
        labels_add(scratch, "route", route, e->hdr.keylen - (size_t)(route - e->hdr.key));
        labels_add(scratch, "status", e->hdr.key, slen);
        put_labelled_hist(out, scratch, "cp_http_request_duration_seconds", &e->h);
    }

    put_head(out, "cp_probe_results_total", "counter", "Health probe results, by probe type.");
    for (size_t i = 0; i < probe_map.n; i++) {
        const struct probe_entry *e = (const struct probe_entry *)probe_map.order[i];
        for (int ok = 1; ok >= 0; ok--) {
            evbuffer_add_printf(out, "cp_probe_results_total{type=\"");
            put_label(out, e->hdr.key, e->hdr.keylen);
            evbuffer_add_printf(out, "\",result=\"%s\"} %" PRIu64 "\n", ok ? "pass" : "fail",
                                ok ? e->pass : e->fail);
        }
    }
    put_head(out, "cp_probe_duration_seconds", "histogram",
             "Health probe duration, by probe type (failures included).");
    for (size_t i = 0; i < probe_map.n; i++) {
        const struct probe_entry *e = (const struct probe_entry *)probe_map.order[i];
        labels_add(scratch, "type", e->hdr.key, e->hdr.keylen);
        put_labelled_hist(out, scratch, "cp_probe_duration_seconds", &e->h);
    }
    put_head(out, "cp_affinity_placements_total", "counter",
             "Tasks with an affinity_key placed among held claimers: on the key's warm agent, "
             "on another agent while one was remembered, or with none remembered.");
    static const char *const aff_results[3] = {"warm", "other", "cold"};
    for (int i = 0; i < 3; i++)
        evbuffer_add_printf(out, "cp_affinity_placements_total{result=\"%s\"} %" PRIu64 "\n",
                            aff_results[i], affinity_placed[i]);
    put_head(out, "cp_affinity_holds_total", "counter",
             "Tasks submitted here that the store held for their warm agent (affinity holds).");
    evbuffer_add_printf(out, "cp_affinity_holds_total %" PRIu64 "\n", affinity_holds);
    evbuffer_free(scratch);
}

void metrics_render_storage(struct evbuffer *out, int up, const struct cp_storage_status *st)
{
    put_head(out, "cp_storage_up", "gauge",
             "1 when the storage backend can be reached now, else 0 (requests answer 503).");
    evbuffer_add_printf(out, "cp_storage_up %d\n", up ? 1 : 0);
    if (!st) return;
    static const struct {
        const char *name, *help;
        size_t offset;
    } counters[] = {
        {"cp_storage_reconnects_total", "Storage connections re-made after a loss.",
         offsetof(struct cp_storage_status, reconnects)},
        {"cp_storage_failovers_total",
         "Moves to a different primary (Sentinel switch, Cluster failover) followed.",
         offsetof(struct cp_storage_status, failovers)},
        {"cp_storage_redirects_total", "Cluster MOVED redirections followed.",
         offsetof(struct cp_storage_status, redirects)},
        {"cp_storage_unconfirmed_writes_total",
         "Writes answered 503 because too few replicas confirmed them in time (wait_replicas).",
         offsetof(struct cp_storage_status, unconfirmed_writes)},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        if (counters[i].offset + sizeof(uint64_t) > st->size) continue; /* an older store */
        uint64_t v;
        memcpy(&v, (const char *)st + counters[i].offset, sizeof v);
        put_head(out, counters[i].name, "counter", counters[i].help);
        evbuffer_add_printf(out, "%s %" PRIu64 "\n", counters[i].name, v);
    }
}
