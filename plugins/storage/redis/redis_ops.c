/* redis_ops.c — each storage operation as ONE call of its Lua code (lua/<op>.lua): FCALL of its
 * function in the cpd library, or EVALSHA of its script (rs->functions), run by redis_exec.c on
 * the command connection; the reply becomes the cp_result given to the callback. The two reads
 * of one record (agent_get, task_get) are a single HMGET instead: atomic without a script.
 *
 * Arguments are borrowed from the caller only until the operation function returns: they are
 * formatted into one RESP command right away (kept by the op for a NOSCRIPT retry).
 * Optional strings travel as "" (NULL) or "=" + value. Errors: CP_ERR_INVALID for arguments
 * the scripts cannot represent, CP_ERR_NOMEM, CP_ERR_UNAVAILABLE while the connection is down
 * or when Redis answers with an error (a script that errs has changed nothing: each validates
 * before it writes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

/* Starts the argument vector of an FCALL (or EVALSHA) of `script`: function name (or sha),
 * 1 key (the tag), "<instance id>:<epoch>" (the epoch is stamped in when it is sent). */
static void args_begin(struct rs_args *a, struct rs *rs, int script)
{
    memset(a, 0, sizeof(*a));
    if (rs->functions) {
        args_add(a, "FCALL", 5);
        args_str(a, rs_scripts[script].function);
    } else {
        args_add(a, "EVALSHA", 7);
        args_add(a, rs->shas[script], 40);
    }
    args_add(a, "1", 1);
    args_str(a, rs->tag);
    args_str(a, rs->inst_epoch);
}

void rs_args_begin(struct rs_args *a, struct rs *rs, int script)
{
    args_begin(a, rs, script);
}

/* ---- the operations --------------------------------------------------------------------- */

/* Checks done here rather than in the script keep the memory backend's order: an argument
 * error that does not depend on the stored state comes first; "not found" before the rest. */

/* The operation answers rc with msg (a literal), sending nothing, when cond holds. */
#define REFUSE_IF(cond, rc, msg)                                                                   \
    do {                                                                                           \
        if (cond) {                                                                                \
            rs_fail(cb, cookie, (rc), "%s", (msg));                                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

void rs_agent_register(void *st, const struct cp_agent_view *in, int64_t now_ms, cp_storage_cb cb,
                       void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!in || !in->agent_id || !in->agent_id[0], CP_ERR_INVALID, "agent_id is required");
    struct rs_args a;
    args_begin(&a, rs, RS_AGENT_REGISTER);
    args_i64(&a, now_ms);
    args_str(&a, in->agent_id);
    args_opt(&a, in->model);
    args_opt(&a, in->provider);
    args_opt(&a, in->metadata_json);
    args_opt(&a, in->health_probe_json);
    args_i64(&a, in->max_concurrent_tasks);
    rs_args_scopes(&a, in); /* quota_scopes (2.4): redis_quota.c */
    args_names(&a, in->capabilities, in->n_capabilities);
    rs_op_start(rs, RS_AGENT_REGISTER, &a, cb, cookie);
}

/* One record is read without a script: a GET of its one value (layout 4), which is the record
 * exactly as the scripts reply it (redis_record.c decodes it). It spares Redis the script call
 * and moving the record through Lua. */
static void read_record(struct rs *rs, int kind, const char *id, cp_storage_cb cb, void *cookie)
{
    const char *prefix = kind == RS_READ_AGENT ? "a:" : "t:";
    struct rs_args a;
    memset(&a, 0, sizeof(a));
    args_add(&a, "GET", 3);
    size_t tl = strlen(rs->tag), il = strlen(id);
    char *key = args_own(&a, tl + 2 + il + 1);
    if (key) {
        memcpy(key, rs->tag, tl);
        memcpy(key + tl, prefix, 2);
        memcpy(key + tl + 2, id, il + 1);
        args_add(&a, key, tl + 2 + il);
    }
    rs_op_start(rs, kind, &a, cb, cookie);
}

void rs_agent_get(void *st, const char *agent_id, cp_storage_cb cb, void *cookie)
{
    REFUSE_IF(!agent_id, CP_ERR_NOT_FOUND, "agent not found");
    read_record(st, RS_READ_AGENT, agent_id, cb, cookie);
}

void rs_agent_heartbeat(void *st, const char *agent_id, int32_t status, int64_t now_ms,
                        cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!agent_id, CP_ERR_NOT_FOUND, "agent not found");
    struct rs_args a;
    args_begin(&a, rs, RS_AGENT_HEARTBEAT);
    args_i64(&a, now_ms);
    args_str(&a, agent_id);
    args_i64(&a, status); /* checked by the script, after "not found" */
    rs_op_start(rs, RS_AGENT_HEARTBEAT, &a, cb, cookie);
}

void rs_agent_drain(void *st, const char *agent_id, int drain, int64_t now_ms, cp_storage_cb cb,
                    void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!agent_id, CP_ERR_NOT_FOUND, "agent not found");
    struct rs_args a;
    args_begin(&a, rs, RS_AGENT_DRAIN);
    args_i64(&a, now_ms);
    args_str(&a, agent_id);
    args_i64(&a, drain ? 1 : 0);
    rs_op_start(rs, RS_AGENT_DRAIN, &a, cb, cookie);
}

void rs_agent_unregister(void *st, const char *agent_id, int64_t now_ms, cp_storage_cb cb,
                         void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!agent_id, CP_ERR_NOT_FOUND, "agent not found");
    struct rs_args a;
    args_begin(&a, rs, RS_AGENT_UNREGISTER);
    args_i64(&a, now_ms);
    args_str(&a, agent_id);
    rs_op_start(rs, RS_AGENT_UNREGISTER, &a, cb, cookie);
}

void rs_agent_set_health(void *st, const char *agent_id, const struct cp_health_view *h,
                         int32_t status, int32_t expect_status, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!agent_id, CP_ERR_NOT_FOUND, "agent not found");
    REFUSE_IF(!h, CP_ERR_INVALID, "invalid health or status");
    struct rs_args a;
    args_begin(&a, rs, RS_AGENT_SET_HEALTH);
    args_str(&a, agent_id);
    args_i64(&a, status); /* ranges checked by the script, after "not found" */
    args_i64(&a, expect_status);
    args_i64(&a, h->status);
    args_i64(&a, h->last_check_ms);
    args_i64(&a, h->consecutive_failures);
    args_i64(&a, h->consecutive_successes);
    args_f64(&a, h->latency_ms);
    args_opt(&a, h->error);
    args_i64(&a, h->circuit);
    args_i64(&a, h->circuit_failures);
    args_i64(&a, h->circuit_opens);
    args_i64(&a, h->opened_at_ms);
    args_i64(&a, h->retry_at_ms);
    rs_op_start(rs, RS_AGENT_SET_HEALTH, &a, cb, cookie);
}

static const char *submit_invalid(const struct cp_task_view *t)
{
    if (!t) return "task is required";
    if (!t->id || !t->id[0]) return "task id is required";
    if (!t->task_type || !t->task_type[0]) return "task_type is required";
    if (!t->payload_json) return "payload is required";
    if (t->priority < 0 || t->priority >= CP_PRIORITY_COUNT) return "priority out of range";
    if (!rs_caps_valid(t->required_capabilities, t->n_required))
        return "required_capabilities must be sorted and unique";
    if (t->backoff_type < 0 || t->backoff_type >= CP_BACKOFF_TYPE_COUNT)
        return "backoff_type out of range";
    return NULL;
}

/* One task as submit_one() in lua/common.lua reads it: only what a new task keeps (it starts
 * pending or waiting, pending_since = created_at, unassigned). */
static void args_task(struct rs_args *a, const struct cp_task_view *t)
{
    args_str(a, t->id);
    args_str(a, t->task_type);
    args_str(a, t->payload_json);
    args_i64(a, t->priority);
    args_i64(a, t->created_at_ms);
    args_i64(a, t->timeout_ms);
    args_i64(a, t->max_retries);
    args_i64(a, t->retries);
    args_i64(a, t->attempt);
    args_opt(a, t->metadata_json);
    args_opt(a, t->strategy);
    args_i64(a, t->not_before_ms > 0 ? t->not_before_ms : 0);
    args_opt(a, t->idempotency_key && t->idempotency_key[0] ? t->idempotency_key : NULL);
    if (t->backoff_type == CP_BACKOFF_NONE) {
        args_opt(a, NULL);
    } else {
        char bo[96];
        snprintf(bo, sizeof bo, "%d %lld %lld %d", (int)t->backoff_type,
                 (long long)(t->backoff_ms > 0 ? t->backoff_ms : 0),
                 (long long)(t->backoff_max_ms > 0 ? t->backoff_max_ms : 0),
                 t->backoff_jitter ? 1 : 0);
        args_opt(a, bo);
    }
    if (t->est_input_tokens > 0 || t->est_output_tokens > 0) {
        char est[48];
        snprintf(est, sizeof est, "%lld %lld",
                 (long long)(t->est_input_tokens > 0 ? t->est_input_tokens : 0),
                 (long long)(t->est_output_tokens > 0 ? t->est_output_tokens : 0));
        args_opt(a, est);
    } else {
        args_opt(a, NULL);
    }
    args_i64(a, t->n_required);
    args_str(a, t->tenant ? t->tenant : ""); /* "": the default tenant */
    /* affinity hold (lua/affinity.lua): the key ("": none) and how long, in ms */
    args_str(a, t->affinity_key && t->affinity_hold_ms > 0 ? t->affinity_key : "");
    args_i64(a, t->affinity_key && t->affinity_hold_ms > 0 ? t->affinity_hold_ms : 0);
    args_names(a, t->required_capabilities, t->n_required);
}

void rs_task_submit(void *st, const struct cp_task_view *t, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    const char *bad = submit_invalid(t);
    if (bad) {
        rs_fail(cb, cookie, CP_ERR_INVALID, "%s", bad);
        return;
    }
    struct rs_args a;
    args_begin(&a, rs, RS_TASK_SUBMIT);
    args_task(&a, t);
    rs_op_start(rs, RS_TASK_SUBMIT, &a, cb, cookie);
}

void rs_task_submit_batch(void *st, const struct cp_task_view *const *tasks, size_t n,
                          cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(n && !tasks, CP_ERR_INVALID, "tasks is NULL");
    for (size_t i = 0; i < n; i++) {
        const char *bad = submit_invalid(tasks[i]);
        if (bad) {
            rs_fail(cb, cookie, CP_ERR_INVALID, "task %zu: %s", i, bad);
            return;
        }
    }
    struct rs_args a;
    args_begin(&a, rs, RS_TASK_SUBMIT_BATCH);
    args_i64(&a, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        args_task(&a, tasks[i]);
    rs_op_start(rs, RS_TASK_SUBMIT_BATCH, &a, cb, cookie);
}

void rs_task_get(void *st, const char *task_id, cp_storage_cb cb, void *cookie)
{
    REFUSE_IF(!task_id, CP_ERR_NOT_FOUND, "task not found");
    read_record(st, RS_READ_TASK, task_id, cb, cookie);
}

void rs_task_list(void *st, const struct cp_task_filter *f, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(f && f->status >= CP_TASK_STATUS_COUNT, CP_ERR_INVALID, "unknown task status");
    struct rs_args a;
    args_begin(&a, rs, RS_TASK_LIST);
    args_i64(&a, f && f->status >= 0 ? f->status : -1);
    args_opt(&a, f ? f->task_type : NULL);
    args_i64(&a, f ? f->limit : 0);
    rs_op_start(rs, RS_TASK_LIST, &a, cb, cookie);
}

/* task_claim's arguments after inst and now: agent caps_mode token aging_ms caps... (the token also
 * kept in `a`, so that a lost reply releases the claim: redis_fence.c). */
static void args_claim(struct rs *rs, struct rs_args *a, const struct cp_claim *c)
{
    args_str(a, c->agent_id);
    /* "2": INVALID, but only once the agent is known to exist. */
    const char *mode = !c->capabilities                                    ? "0"
                       : rs_caps_valid(c->capabilities, c->n_capabilities) ? "1"
                                                                           : "2";
    args_str(a, mode);
    /* The claim token, kept in the task: the claim is undone if its reply is lost
     * (redis_fence.c). */
    char *token = args_own(a, sizeof rs->inst + 24);
    if (token) {
        snprintf(token, sizeof rs->inst + 24, "%s:%llu", rs->inst,
                 (unsigned long long)++rs->claim_seq);
        args_str(a, token);
        a->claim_agent = c->agent_id;
        a->claim_token = token;
    }
    args_i64(a, c->aging_ms > 0 ? c->aging_ms : 0); /* tenants (2.4): lua/tenant.lua */
    if (mode[0] == '1') args_names(a, c->capabilities, c->n_capabilities);
}

void rs_task_claim(void *st, const struct cp_claim *c, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!c, CP_ERR_INVALID, "claim is required");
    REFUSE_IF(!c->agent_id, CP_ERR_NOT_FOUND, "agent not found");
    struct rs_args a;
    args_begin(&a, rs, RS_TASK_CLAIM);
    args_i64(&a, c->now_ms);
    args_claim(rs, &a, c);
    rs_op_start(rs, RS_TASK_CLAIM, &a, cb, cookie);
}

/* task_transition's 14 arguments (inst included, by args_begin). */
static void args_transition(struct rs_args *a, const struct cp_transition *tr)
{
    args_i64(a, tr->now_ms);
    args_i64(a, tr->kind);
    args_str(a, tr->task_id);
    args_opt(a, tr->agent_id);
    args_opt(a, tr->result_json);
    args_opt(a, tr->error);
    args_f64(a, tr->latency_ms);
    args_str(a, tr->requeue ? "1" : "0");
    args_i64(a, tr->pass_over_ms);
    args_i64(a, tr->expect_attempt);
    args_i64(a, tr->jitter);
    char us[72] = "";
    if (tr->usage_set)
        snprintf(us, sizeof us, "%lld %lld %lld", (long long)tr->usage_input_tokens,
                 (long long)tr->usage_output_tokens, (long long)tr->usage_cached_tokens);
    args_opt(a, us[0] ? us : NULL);
    char rl[24] = "";
    if (tr->kind == CP_TR_FAIL && tr->rate_limited)
        snprintf(rl, sizeof rl, "%lld",
                 (long long)(tr->retry_after_ms > 0 ? tr->retry_after_ms : 0));
    args_opt(a, rl[0] ? rl : NULL);
}

void rs_task_transition(void *st, const struct cp_transition *tr, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!tr || tr->kind < CP_TR_START || tr->kind > CP_TR_RELEASE, CP_ERR_INVALID,
              "unknown transition");
    REFUSE_IF(!tr->task_id, CP_ERR_NOT_FOUND, "task not found");
    struct rs_args a;
    args_begin(&a, rs, RS_TASK_TRANSITION);
    args_transition(&a, tr);
    rs_op_start(rs, RS_TASK_TRANSITION, &a, cb, cookie);
}

/* One script call (task_complete_next.lua): the transition, then the claim; the claim's token
 * travels with it, so a lost reply releases the claim as it would a plain claim's. */
void rs_task_complete_next(void *st, const struct cp_transition *tr, const struct cp_claim *next,
                           cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!tr || !next || (tr->kind != CP_TR_COMPLETE && tr->kind != CP_TR_FAIL),
              CP_ERR_INVALID, "complete_next takes COMPLETE or FAIL and a claim");
    REFUSE_IF(!tr->task_id, CP_ERR_NOT_FOUND, "task not found");
    REFUSE_IF(!next->agent_id, CP_ERR_INVALID, "the next claim needs its agent");
    struct rs_args a;
    args_begin(&a, rs, RS_TASK_COMPLETE_NEXT);
    args_transition(&a, tr);
    args_claim(rs, &a, next);
    rs_op_start(rs, RS_TASK_COMPLETE_NEXT, &a, cb, cookie);
}

void rs_task_extend(void *st, const struct cp_extend *x, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!x, CP_ERR_INVALID, "extend is required");
    REFUSE_IF(!x->task_id, CP_ERR_NOT_FOUND, "task not found");
    struct rs_args a;
    args_begin(&a, rs, RS_TASK_EXTEND);
    args_i64(&a, x->now_ms);
    args_str(&a, x->task_id);
    args_opt(&a, x->agent_id);
    args_i64(&a, x->deadline_ms);
    args_opt(&a, x->progress_json);
    rs_op_start(rs, RS_TASK_EXTEND, &a, cb, cookie);
}

void rs_task_retry(void *st, const struct cp_retry *r, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!r, CP_ERR_INVALID, "retry is required");
    REFUSE_IF(!r->task_id, CP_ERR_NOT_FOUND, "task not found");
    struct rs_args a;
    args_begin(&a, rs, RS_TASK_RETRY);
    args_i64(&a, r->now_ms);
    args_str(&a, r->task_id);
    rs_op_start(rs, RS_TASK_RETRY, &a, cb, cookie);
}

void rs_task_purge(void *st, const struct cp_purge *p, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    const uint32_t terminal = CP_TASK_MASK(CP_TASK_COMPLETED) | CP_TASK_MASK(CP_TASK_FAILED) |
                              CP_TASK_MASK(CP_TASK_CANCELLED) | CP_TASK_MASK(CP_TASK_TIMEOUT);
    REFUSE_IF(!p || (p->status_mask & ~terminal), CP_ERR_INVALID,
              "only terminal tasks can be purged");
    struct rs_args a;
    args_begin(&a, rs, RS_TASK_PURGE);
    args_i64(&a, p->now_ms);
    args_i64(&a, p->ended_before_ms);
    args_i64(&a, p->status_mask);
    args_opt(&a, p->task_type);
    args_i64(&a, p->limit);
    rs_op_start(rs, RS_TASK_PURGE, &a, cb, cookie);
}

void rs_reap(void *st, const struct cp_reap *r, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    REFUSE_IF(!r, CP_ERR_INVALID, "reap parameters are required");
    struct rs_args a;
    args_begin(&a, rs, RS_REAP);
    args_i64(&a, r->now_ms);
    args_i64(&a, r->heartbeat_timeout_ms);
    args_str(&a, r->remove_stale ? "1" : "0");
    args_i64(&a, r->retention_ms);
    args_i64(&a, r->max_events);
    args_i64(&a, (int64_t)(r->max_terminal > INT64_MAX ? INT64_MAX : r->max_terminal));
    args_i64(&a, r->jitter);
    rs_op_start(rs, RS_REAP, &a, cb, cookie);
}

void rs_stats(void *st, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    struct rs_args a;
    args_begin(&a, rs, RS_STATS);
    rs_op_start(rs, RS_STATS, &a, cb, cookie);
}
