/* memory_internal.h — private types of the in-memory storage backend: the records, the indexes
 * that keep every operation off a full scan (pending queues per capability set, deadline heaps
 * and lists, agents ordered by agent_id overall and per capability), and the helpers the
 * memory_*.c files share.
 *
 * Single-threaded: the host calls every op from its one loop thread. Every op calls its callback
 * before returning; the callback may call further ops (nesting). Anything a result still points
 * at is therefore never freed while an op is running: records deleted by an op go to a
 * graveyard and replaced strings go to a deferred list, both emptied when the outermost op has
 * returned (mem_enter()/mem_leave()).
 */
#ifndef MEMORY_INTERNAL_H
#define MEMORY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cp/storage.h>

/* ---- memory_hash.c: open-addressing hash table of record pointers ---------------------- */

/* 1 when `item` has the key `key` (whatever the table's items are keyed by). */
typedef int (*mem_eq_fn)(const void *item, const void *key);

/* Linear probing, backward-shift deletion (no tombstones). Items are owned by the caller; the
 * table stores pointers and each item's hash. */
struct mem_hash {
    void **items;     /* NULL = empty slot */
    uint32_t *hashes; /* hash of items[i] */
    size_t cap;       /* 0 or a power of two */
    size_t n;
};

uint64_t mem_hash64(uint64_t seed, const void *data, size_t len);
void *mem_hash_get(const struct mem_hash *h, uint32_t hash, mem_eq_fn eq, const void *key);
/* The caller makes sure no equal item is present. 0, or CP_ERR_NOMEM (table unchanged). */
int mem_hash_put(struct mem_hash *h, uint32_t hash, void *item);
/* Remove this very item (compared by address); no-op when absent. */
void mem_hash_del(struct mem_hash *h, uint32_t hash, const void *item);
void mem_hash_free(struct mem_hash *h);

/* ---- memory_order.c: agents ordered by agent_id (skip lists) ----------------------------- */

struct mem_agent;
#define MEM_ORDER_LEVELS 16 /* p = 1/4: enough for 4^16 agents */

/* One agent's place in one ordered set. Owned by the agent (mem_agent.nodes), never by the set. */
struct mem_onode {
    struct mem_agent *agent;
    uint32_t level; /* 1..MEM_ORDER_LEVELS links in next[] */
    struct mem_onode *next[];
};

/* Agents ordered by agent_id: mem.order (all) and mem_name.agents (per capability). agent_list
 * walks the smallest one that its filter allows, in order: no sort per call. */
struct mem_order {
    size_t n;
    uint32_t level; /* levels in use */
    struct mem_onode *head[MEM_ORDER_LEVELS];
};

struct mem;
/* One block of `count` unlinked nodes with random levels (their .agent NULL), or NULL on NOMEM;
 * freed with free(). mem_order_next_node() steps to the following node of the block. */
struct mem_onode *mem_order_nodes(struct mem *m, uint32_t count);
struct mem_onode *mem_order_next_node(struct mem_onode *nd);
/* Link nd (nd->agent set, its id not yet in o). Cannot fail. */
void mem_order_insert(struct mem_order *o, struct mem_onode *nd);
/* Unlink a's node from o; no-op when a is not a member. */
void mem_order_remove(struct mem_order *o, const struct mem_agent *a);
/* The first node whose agent_id sorts after `after` (strcmp; the id need not be a member), the
 * first node when `after` is NULL, or NULL: O(log n). */
const struct mem_onode *mem_order_after(const struct mem_order *o, const char *after);

/* ---- records ------------------------------------------------------------------------------ */

struct mem;
struct mem_task;
struct mem_agent;

/* An interned, reference-counted string: agent ids, capabilities, providers, task types.
 * `count` is its contribution to the stats maps (agents with this capability / provider, tasks
 * of this type); `refs` is its lifetime (records pointing at `s`, including graveyard ones). */
struct mem_name {
    uint32_t refs;
    uint32_t hash;
    uint64_t count;
    struct mem_order *agents; /* capabilities: the agents having it (freed with the name) */
    struct mem_task *held;    /* agent ids: tasks held for the agent (memory_affinity_hold.c) */
    uint64_t by_status[CP_TASK_STATUS_COUNT]; /* task types: tasks of this type per status */
    char s[];
};

/* One table of interned names. */
struct mem_names {
    struct mem_hash h;
};

/* Pending tasks of one priority within one capability set, ordered by (pending_since, seq). */
struct mem_band {
    struct mem_task *head, *tail;
};

/* A tenant (memory_tenants.c): its share, what it has, and the service it received. */
#define MEM_TENANT_DEFAULT "default"
struct mem_tenant {
    uint32_t refs; /* capsets of this tenant, + 1 while configured */
    uint32_t hash;
    uint32_t weight, max_in_flight;
    int configured;
    uint64_t waiting, in_flight, tokens_served;
    /* Per priority band (shares are kept within a band: a tenant's high-priority tokens do not
     * shrink its share of normal): tokens charged in the band / weight (the least-served tenant
     * is served first) and its tasks queued in the band. */
    double service[CP_PRIORITY_COUNT];
    uint32_t waiting_in[CP_PRIORITY_COUNT];
    char id[];
};

/* An interned required-capability set of one tenant: one pending queue (4 bands) per distinct
 * (set, tenant), so a claim visits only the sets, not the tasks. refs = stored tasks with it. */
struct mem_capset {
    uint32_t refs;
    uint32_t hash;
    uint32_t n;
    struct mem_tenant *tenant; /* one reference held */
    uint64_t n_pending;
    struct mem_band bands[CP_PRIORITY_COUNT];
    struct mem_capset *prev, *next; /* in mem.active: sets with n_pending > 0 */
    const char *caps[];             /* n pointers, then the strings themselves */
};

/* What only some tasks have (2.4: progress, idempotency key, backoff, ended attempts),
 * allocated on first use so that a plain task stays small. */
struct mem_task_ext {
    char *progress; /* a JSON object's text, or NULL */
    char *idem_key; /* or NULL; while set the task is in mem.idem under it */
    uint32_t idem_hash;
    int32_t backoff_type, backoff_jitter;
    int64_t backoff_ms, backoff_max_ms;
    struct cp_attempt *attempts; /* oldest first; agent_id and error owned */
    uint32_t n_attempts, cap_attempts;
    /* provider quotas (memory_quota.c): the declared estimate, the reported usage, and what
     * the claim holding it reserved (on the quotas named in qids, NUL-separated, qids_len
     * bytes; NULL when it reserved nothing) */
    int64_t est_in, est_out;
    int32_t usage_set;
    int64_t usage_in, usage_out, usage_cached;
    char *qids;
    size_t qids_len;
    int64_t q_tokens, q_sec;
    /* affinity hold (memory_affinity_hold.c): held for this agent (a reference) until then,
     * in held_for->held's list */
    struct mem_name *held_for;
    int64_t held_until;
    struct mem_task *hprev, *hnext;
};

struct mem_task {
    /* pending: its band (not while waiting); claimed/running: its holder's task list; terminal:
     * mem.done list */
    struct mem_task *prev, *next;
    struct mem_task *cprev, *cnext; /* mem.all: every task by created_at */
    struct mem_capset *caps;
    struct mem_name *type;
    struct mem_name *assigned;    /* agent id, or NULL */
    struct mem_name *passed_over; /* agent id, or NULL */
    struct mem_agent *holder;     /* claimed/running: the assigned agent (always registered) */
    char *result;
    char *error;
    char *strategy;
    const char *metadata; /* owned, or mem_empty_object */
    int64_t created_at, claimed_at, started_at, completed_at, pending_since;
    int64_t timeout_ms, passed_over_until;
    int64_t deadline;         /* claimed/running: when it times out (0: never) */
    int64_t not_before;       /* claimable from then (0: at once) */
    struct mem_task_ext *ext; /* or NULL */
    uint64_t seq;             /* arrival in pending: FIFO among equal pending_since */
    uint32_t max_retries, retries, attempt;
    /* place in mem.timeouts (claimed/running) or mem.waiting (waiting), or MEM_NO_HEAP */
    uint32_t heap_idx;
    uint8_t status, priority;
    uint8_t waiting;      /* pending but not yet due: in mem.waiting, not in a band */
    uint8_t charged_band; /* tenants: the band its claim was charged in (one up when aged) */
    uint16_t id_len;
    char data[]; /* id '\0' payload '\0' */
};
#define MEM_NO_HEAP UINT32_MAX
#define TASK_ID(t) ((t)->data)
#define TASK_PAYLOAD(t) ((t)->data + (t)->id_len + 1)

struct mem_agent {
    struct mem_agent *prev, *next; /* mem.live or mem.offline, ordered by last_heartbeat */
    struct mem_name *id;
    struct mem_name **cap_names; /* n_caps entries of mem.caps; same allocation as caps */
    const char **caps;           /* cap_names[i]->s, for views */
    uint32_t n_caps;
    int32_t status;
    int32_t reported;   /* the status the agent reported last (ready at registration) */
    int64_t drained_at; /* an operator's drain (agent_drain), 0 = not drained */
    char *model;
    struct mem_name *provider;
    const char *metadata; /* owned, or mem_empty_object */
    char *probe;          /* health_probe_json, or NULL */
    int64_t registered_at, last_heartbeat, last_assigned;
    uint32_t max_concurrent, in_flight;
    struct mem_task *current;
    struct mem_task *held_head, *held_tail; /* its claimed/running tasks */
    uint64_t completed, failed, latency_count;
    double latency_sum;
    struct cp_health_view health; /* .error == health_error */
    char *health_error;
    /* One block: its node in mem.order, then one node per capability (in cap_names order), each
     * linked into cap_names[i]->agents. */
    struct mem_onode *nodes;
    /* quota_scopes (2.4): one block, the array then its strings; NULL when none */
    struct cp_quota_scope *scopes;
    uint32_t n_scopes;
};

/* A binary min-heap of tasks: by deadline (mem.timeouts) or by not_before (mem.waiting). */
struct mem_theap {
    struct mem_task **v;
    size_t n, cap;
    int by_not_before;
};

/* An ordered doubly linked list of agents. */
struct mem_agent_list {
    struct mem_agent *head, *tail;
};

struct mem {
    const struct cp_host *host;
    uint64_t seed;
    struct mem_hash agents; /* by id */
    struct mem_hash tasks;  /* by id */
    struct mem_hash capsets;
    struct mem_names ids, caps, providers, types;
    struct mem_order order;                 /* every agent by agent_id */
    uint64_t rng;                           /* skip list levels (xorshift64*) */
    struct mem_agent_list live;             /* not offline, by last_heartbeat */
    struct mem_agent_list offline;          /* offline, by last_heartbeat */
    struct mem_capset *active;              /* capsets with pending tasks */
    struct mem_task *done_head, *done_tail; /* terminal tasks by completed_at */
    struct mem_task *all_head, *all_tail;   /* every task by created_at */
    struct mem_theap timeouts;              /* claimed/running tasks with a deadline, by deadline */
    struct mem_theap waiting;               /* pending tasks not yet due, by not_before */
    struct mem_hash idem;                   /* tasks with an idempotency key, by key */
    struct mem_hash tenants;                /* struct mem_tenant by id */
    double vtime[CP_PRIORITY_COUNT];        /* per band: the service being served now (tenants) */
    struct mem_affinity *affinity;          /* affinity key -> agent (memory_affinity.c) */
    int64_t hold_skipped_due; /* a claim's scratch: the earliest end of a hold it skipped */
    uint64_t seq;
    uint64_t deleted_since_trim; /* tasks deleted since the last malloc_trim() */
    struct cp_stats_view stats;  /* scalar counters; the name maps live in the name tables */

    int depth;                    /* ops running (nesting through callbacks) */
    struct mem_task *grave_tasks; /* deleted, chained through ->next */
    struct mem_agent *grave_agents;
    void **deferred; /* freed when depth returns to 0 */
    size_t n_deferred, cap_deferred;

    struct mem_quota **quotas; /* provider quotas (memory_quota.c), by id */
    size_t n_quotas, cap_quotas;
};

extern const char mem_empty_object[]; /* "{}", shared by every record without metadata */

/* ---- memory.c: op bracketing and deferred frees ------------------------------------------- */

void mem_enter(struct mem *m);
void mem_leave(struct mem *m);
/* free(p) now, or after the outermost op when an enclosing op's result may still see it. */
void mem_free_later(struct mem *m, void *p);
char *mem_strdup(const char *s);
/* s, or NULL when s is "{}" or NULL (callers then use mem_empty_object). CP_ERR_NOMEM: -1. */
int mem_dup_json_object(const char *s, const char **out);
void mem_free_json_object(struct mem *m, const char *s);
/* 1 when the n strings are sorted ascending and unique (and n == 0 or caps != NULL). */
int mem_caps_valid(const char *const *caps, uint32_t n);
/* Fill a result with rc and message and call back. */
void mem_reply_err(cp_storage_cb cb, void *cookie, int rc, const char *message);

/* ---- memory_names.c: interned names and capability sets -------------------------------- */

/* The name `s` with one more reference (created with count 0), or NULL on NOMEM. */
struct mem_name *mem_name_get(struct mem *m, struct mem_names *t, const char *s);
/* The name `s` if present (no reference taken), else NULL. */
struct mem_name *mem_name_find(struct mem *m, const struct mem_names *t, const char *s);
/* Drop one reference; freed (deferred) at zero. NULL is ignored. */
void mem_name_put(struct mem *m, struct mem_names *t, struct mem_name *n);
/* A malloc'd array of the names with count > 0, sorted by name; *n set. NULL when *n == 0 or on
 * NOMEM (then *n = SIZE_MAX). */
struct cp_count *mem_names_counts(const struct mem_names *t, size_t *n);
void mem_names_free(struct mem *m, struct mem_names *t);

/* The set of caps for tenant tn (a reference taken on tn when the set is new). */
struct mem_capset *mem_capset_get(struct mem *m, const char *const *caps, uint32_t n,
                                  struct mem_tenant *tn);
void mem_capset_put(struct mem *m, struct mem_capset *cs);

/* ---- memory_index.c: pending bands, timeout heap, deadline lists ------------------------- */

/* Put a pending task into its band. A new arrival (front == 0) gets a fresh seq and goes
 * behind every task with the same or an earlier pending_since; a released one (front == 1)
 * keeps its seq and goes back to its place, normally the front. */
void mem_pending_insert(struct mem *m, struct mem_task *t, int front);
/* A new arrival in pending: waiting (mem.waiting, pending_since = not_before) when not_before
 * is after now, else into its band. The caller reserved room in mem.waiting. */
void mem_pending_enqueue(struct mem *m, struct mem_task *t, int64_t now);
/* Out of its band, or out of mem.waiting when waiting. */
void mem_pending_remove(struct mem *m, struct mem_task *t);
/* The best pending task `agent` may claim with capabilities `have`, or NULL. */
struct mem_task *mem_pending_best(struct mem *m, const char *const *have, uint32_t n_have,
                                  const struct mem_name *agent, int64_t now, int64_t aging_ms);

/* ---- memory_affinity.c, memory_affinity_hold.c: prompt-cache affinity (2.4) ------------- */

/* The agent remembered for key at now, or NULL (borrowed until the next affinity op). */
const char *mem_affinity_agent(struct mem *m, const char *key, int64_t now);
/* A new claimable task t with affinity key `key`: hold it for the remembered agent until now +
 * hold_ms when that agent may have it (storage.h, "Affinity holds"). The hold's end, or 0. */
int64_t mem_hold_at_submit(struct mem *m, struct mem_task *t, const char *key, int64_t hold_ms,
                           int64_t now);
/* t leaves pending (or is freed): its hold, if any, ends. */
void mem_hold_drop(struct mem *m, struct mem_task *t);
/* 1 when t is held for an agent other than `agent` at now (m->hold_skipped_due notes its end). */
int mem_hold_skips(struct mem *m, const struct mem_task *t, const struct mem_name *agent,
                   int64_t now);
/* The best task held for agent a that a claim with capabilities `have` may take, or NULL. */
struct mem_task *mem_hold_best(struct mem *m, const struct mem_agent *a, const char *const *have,
                               uint32_t n_have, int64_t now);

/* ---- memory_tenants.c: fair share between tenants ---------------------------------------- */

/* The tenant `id` (NULL or "": the default one) with one more reference, or NULL on NOMEM. */
struct mem_tenant *mem_tenant_get(struct mem *m, const char *id);
void mem_tenant_put(struct mem *m, struct mem_tenant *tn);
void mem_tenants_free(struct mem *m);
/* One more (sign 1) or one fewer (-1) claimable task of tn. */
void mem_tenant_waiting(struct mem *m, struct mem_tenant *tn, int band, int sign);
int mem_tenant_full(const struct mem_tenant *tn);           /* at its max_in_flight */
void mem_tenant_claimed(struct mem *m, struct mem_task *t); /* charge the claim */
void mem_tenant_released(struct mem_task *t);               /* left claimed/running */
/* The claim's charge corrected to `used` tokens (the usage complete/fail reported). */
void mem_tenant_settle(struct mem_task *t, int64_t used);
/* Claim order: a (effective band band_a) before b (band_b). */
int mem_tenant_before(const struct mem_task *a, int band_a, const struct mem_task *b, int band_b);

int mem_theap_reserve(struct mem_theap *h); /* room for one more; 0 or CP_ERR_NOMEM */
/* Push t (room reserved; a no-op without room, or for a deadline of 0 in mem.timeouts). */
void mem_theap_push(struct mem_theap *h, struct mem_task *t);
void mem_theap_remove(struct mem_theap *h, struct mem_task *t); /* no-op when not in it */
void mem_theap_update(struct mem_theap *h, struct mem_task *t); /* its key changed */
struct mem_task *mem_theap_top(const struct mem_theap *h);
void mem_theap_free(struct mem_theap *h);
int64_t mem_task_deadline(const struct mem_task *t);

void mem_done_insert(struct mem *m, struct mem_task *t); /* by completed_at */
void mem_done_remove(struct mem *m, struct mem_task *t);
void mem_all_insert(struct mem *m, struct mem_task *t); /* by created_at */
void mem_all_remove(struct mem *m, struct mem_task *t);

/* Insert an agent into the list its status calls for, by last_heartbeat. */
void mem_agent_link(struct mem *m, struct mem_agent *a);
void mem_agent_unlink(struct mem *m, struct mem_agent *a);

/* `base + delta <= now`, without overflow; delta < 0 never passes. */
int mem_deadline_passed(int64_t base, int64_t delta, int64_t now);

/* ---- memory_agents.c ----------------------------------------------------------------------- */

void mem_agent_view(const struct mem_agent *a, struct cp_agent_view *v);
/* Add (sign 1) or remove (sign -1) an agent's status/health contribution to the counters. */
void mem_agent_stats(struct mem *m, const struct mem_agent *a, int sign);
/* Change status (counters, health-follows-liveness, list membership, busy rule). */
void mem_agent_set_status(struct mem *m, struct mem_agent *a, int32_t status);
/* last_heartbeat = now, keeping the deadline list ordered. */
void mem_agent_touch(struct mem *m, struct mem_agent *a, int64_t now);
struct mem_agent *mem_agent_find(struct mem *m, const char *id);
/* memory_events.c: the events and before-statuses an operation reports, and their replies. */
struct mem_events {
    struct cp_event *v;
    size_t n, cap;
};
void mem_events_add(struct mem_events *ev, const struct cp_event *e);
/* Adds an event about task t (its id, type, status and capabilities); `before`: the task's
 * status before the event. */
void mem_task_event(struct mem_events *ev, int kind, const char *agent_id, const struct mem_task *t,
                    int32_t before);
/* Call back with the events (rc 0), then free them and leave *ev empty. agent_before: the
 * status of the agent the operation deleted (agent_unregister), or -1. */
void mem_reply_events(cp_storage_cb cb, void *cookie, struct mem_events *ev, int32_t agent_before);
/* The statuses a result reports as before the operation (cp_result.before, ABI 2.4); -1 in
 * either member: not reported. */
struct mem_before {
    int32_t agent, task;
};
#define MEM_NO_BEFORE ((struct mem_before){-1, -1})
void mem_result_before(struct cp_result *res, struct mem_before b);
/* The same with the 2.4 members next_due_ms (reap) and more (purge). */
void mem_reply_events_ex(cp_storage_cb cb, void *cookie, struct mem_events *ev, int64_t next_due_ms,
                         int more);
/* Requeue every held task as unregister does (retries unchanged), appending one
 * CP_EVENT_TASK_REQUEUED each to *ev (grown as needed; best effort on NOMEM), then delete the
 * agent (graveyard). */
void mem_agent_delete(struct mem *m, struct mem_agent *a, int64_t now, struct mem_events *ev);

/* ---- memory_tasks.c ------------------------------------------------------------------------ */

void mem_task_view(const struct mem_task *t, struct cp_task_view *v);
void mem_task_stats(struct mem *m, const struct mem_task *t, int sign);
/* Status change with the counters around it. */
void mem_task_set_status(struct mem *m, struct mem_task *t, int status);
struct mem_task *mem_task_find(struct mem *m, const char *id);
uint32_t mem_task_hash(const struct mem *m, const char *id);
/* The task leaves claimed/running: off the heap and its holder's list; holder in flight - 1,
 * current cleared, busy -> ready below max. Returns the former holder. */
struct mem_agent *mem_task_unhold(struct mem *m, struct mem_task *t);
/* Back to pending (assignment, deadline and progress cleared, a new arrival), claimable after
 * delay_ms (0: at once; waiting otherwise, or at once when out of memory). */
void mem_task_requeue(struct mem *m, struct mem_task *t, int64_t now, int64_t delay_ms);
/* The task's assigned attempt ends with `outcome` (enum cp_attempt_outcome) at `now`: it joins
 * the attempts (the oldest dropped beyond CP_ATTEMPTS_MAX; best effort on NOMEM). */
void mem_task_end_attempt(struct mem *m, struct mem_task *t, int outcome, int64_t now);
/* The delay of the task's backoff after its current number of retries. */
int64_t mem_task_backoff(const struct mem_task *t, uint32_t rnd);
/* The extension, allocated on first use; NULL on NOMEM. */
struct mem_task_ext *mem_task_ext(struct mem_task *t);
/* Undo a claim that never reached the agent: assignment cleared, attempt - 1, back to its old
 * place in its band (normally the front). The holder must already be detached. */
void mem_task_release(struct mem *m, struct mem_task *t);
/* Terminal status with completed_at = now (joins the retention list). */
void mem_task_finish(struct mem *m, struct mem_task *t, int status, int64_t now);
/* Replace the error text (the old one freed later). 0 or CP_ERR_NOMEM. */
int mem_task_set_error(struct mem *m, struct mem_task *t, const char *error);
void mem_task_delete(struct mem *m, struct mem_task *t);
void mem_task_free(struct mem *m, struct mem_task *t);
/* Call back with rc and message, plus the views of t and a when not NULL, and what they were
 * before (MEM_NO_BEFORE: not reported). */
void mem_reply_task(cp_storage_cb cb, void *cookie, int rc, const char *msg,
                    const struct mem_task *t, const struct mem_agent *a, struct mem_before b);

/* ---- memory_quota.c: provider quotas (2.4) ------------------------------------------------- */

struct mem_quota;
/* A copy of n scopes in one block (NULL when n == 0; *ok 0 on NOMEM). */
struct cp_quota_scope *mem_scopes_dup(const struct cp_quota_scope *in, uint32_t n, int *ok);
/* The claim's quota step for agent a and its best task t (NULL: none found): 1 when a's quotas
 * hold it back (*due: when room returns by the clock, 0: when a task leaves its holder), 0 when
 * the claim may take t. mem_quota_reserve() then reserves on them (in the same op). */
int mem_quota_check(struct mem *m, const struct mem_agent *a, const struct mem_task *t, int64_t now,
                    int64_t *due);
/* 1 when a's quotas hold it back before any task is looked at (paused, at their concurrency,
 * out of requests). */
int mem_quota_blocked(struct mem *m, const struct mem_agent *a, int64_t now, int64_t *due);
void mem_quota_reserve(struct mem *m, const struct mem_agent *a, struct mem_task *t, int64_t now);
/* t leaves its holder: in flight - 1 on what its claim reserved, usage settled. */
void mem_quota_release(struct mem *m, struct mem_task *t);
/* COMPLETE of t: a cut concurrency grows back by one. */
void mem_quota_success(struct mem *m, const struct mem_task *t);
/* A 429 on t's claim: pause (retry_after_ms > 0) or cut its quotas. 1 when any quota took it. */
int mem_quota_rate_limited(struct mem *m, struct mem_task *t, int64_t retry_after_ms, int64_t now);
void mem_quotas_free(struct mem *m);
void mem_op_quota_put(void *st, const struct cp_quota_view *q, cp_storage_cb cb, void *cookie);
void mem_op_quota_delete(void *st, const char *quota_id, cp_storage_cb cb, void *cookie);
void mem_op_quota_list(void *st, int64_t now_ms, cp_storage_cb cb, void *cookie);

/* mem_reply_task with the claim's quota answer (cp_result.quota_held, next_due_ms). */
void mem_reply_claim(cp_storage_cb cb, void *cookie, int rc, const char *msg,
                     const struct mem_task *t, const struct mem_agent *a, struct mem_before b,
                     int quota_held, int64_t due);

/* ---- ops (memory_agents.c, memory_tasks.c, memory_transition.c, memory_reap.c) ----------- */

void mem_op_agent_register(void *st, const struct cp_agent_view *in, int64_t now_ms,
                           cp_storage_cb cb, void *cookie);
void mem_op_agent_get(void *st, const char *agent_id, cp_storage_cb cb, void *cookie);
void mem_op_agent_list(void *st, const struct cp_agent_filter *filter, cp_storage_cb cb,
                       void *cookie);
void mem_op_agent_heartbeat(void *st, const char *agent_id, int32_t status, int64_t now_ms,
                            cp_storage_cb cb, void *cookie);
void mem_op_agent_unregister(void *st, const char *agent_id, int64_t now_ms, cp_storage_cb cb,
                             void *cookie);
void mem_op_agent_drain(void *st, const char *agent_id, int drain, int64_t now_ms, cp_storage_cb cb,
                        void *cookie);
void mem_op_agent_set_health(void *st, const char *agent_id, const struct cp_health_view *health,
                             int32_t status, int32_t expect_status, cp_storage_cb cb, void *cookie);
void mem_op_task_submit(void *st, const struct cp_task_view *task, cp_storage_cb cb, void *cookie);
void mem_op_task_get(void *st, const char *task_id, cp_storage_cb cb, void *cookie);
void mem_op_task_list(void *st, const struct cp_task_filter *filter, cp_storage_cb cb,
                      void *cookie);
void mem_op_task_claim(void *st, const struct cp_claim *claim, cp_storage_cb cb, void *cookie);
void mem_op_task_transition(void *st, const struct cp_transition *tr, cp_storage_cb cb,
                            void *cookie);
void mem_op_reap(void *st, const struct cp_reap *r, cp_storage_cb cb, void *cookie);
void mem_op_stats(void *st, cp_storage_cb cb, void *cookie);
/* 2.4 (memory_lease.c, memory_admin.c; in the table only when built for 2.4 or later) */
void mem_op_task_extend(void *st, const struct cp_extend *x, cp_storage_cb cb, void *cookie);
void mem_op_task_retry(void *st, const struct cp_retry *r, cp_storage_cb cb, void *cookie);
void mem_op_task_purge(void *st, const struct cp_purge *p, cp_storage_cb cb, void *cookie);
void mem_op_task_submit_batch(void *st, const struct cp_task_view *const *tasks, size_t n,
                              cp_storage_cb cb, void *cookie);
struct mem_affinity;
void mem_affinity_free(struct mem *m);
#if CP_ABI_TARGET_MINOR >= 4
void mem_op_affinity_get(void *st, const char *key, int64_t now_ms, cp_storage_cb cb, void *cookie);
void mem_op_affinity_set(void *st, const struct cp_affinity *a, cp_storage_cb cb, void *cookie);
#endif
void mem_op_task_complete_next(void *st, const struct cp_transition *tr,
                               const struct cp_claim *next, cp_storage_cb cb, void *cookie);
#if CP_ABI_TARGET_MINOR >= 4
void mem_op_tenant_put(void *st, const struct cp_tenant_view *in, cp_storage_cb cb, void *cookie);
void mem_op_tenant_delete(void *st, const char *id, cp_storage_cb cb, void *cookie);
void mem_op_tenant_list(void *st, cp_storage_cb cb, void *cookie);
#endif

#endif
