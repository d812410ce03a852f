/* redis_fields.c — the fields of an agent and of a task in the order of a record as stored
 * (layout 4; A_REC and T_REC in lua/common.lua): the reply's fields, which redis_reply.c reads,
 * then the scripts' own. tests/test_redis_fields.c checks them against common.lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

const char *const rs_agent_fields[RS_AGENT_FIELDS] = {
    "id",   "caps", "st",   "model", "prov", "md",  "probe", "reg", "hb",  "la",  "mc",
    "inf",  "cur",  "tc",   "tf",    "ls",   "lc",  "hs",    "hlc", "hcf", "hcs", "hlat",
    "herr", "hci",  "hcif", "hco",   "hoa",  "hra", "dra",   "rep", "qsc"};

const char *const rs_task_fields[RS_TASK_FIELDS] = {
    "id", "type", "pl", "req", "st",  "pr",  "cat", "clat",  "stat", "coat", "ps", "ag",
    "to", "mr",   "re", "att", "res", "err", "md",  "strat", "poa",  "pou",  "dl", "x"};

const char *const rs_agent_own_fields[RS_AGENT_OWN_FIELDS] = {"wr"};
const char *const rs_task_own_fields[RS_TASK_OWN_FIELDS] = {"cm",  "qs",   "qk", "qm",  "pqm",
                                                            "pqs", "cseq", "dw", "ctk", "tnb"};

/* At most 3 numbers of the packed text [s, s + n) into v; how many were read. */
static int numbers(const char *s, size_t n, long long *v, int max)
{
    char buf[96];
    if (!s || n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    int got = max == 2 ? sscanf(buf, "%lld %lld", &v[0], &v[1])
                       : sscanf(buf, "%lld %lld %lld", &v[0], &v[1], &v[2]);
    for (int i = 0; i < got; i++)
        if (v[i] < 0) return 0;
    return got;
}

void rs_task_tokens(const char *est, size_t est_len, const char *us, size_t us_len,
                    struct cp_task_view *t)
{
    long long v[3];
    if (numbers(est, est_len, v, 2) == 2) t->est_input_tokens = v[0], t->est_output_tokens = v[1];
    if (numbers(us, us_len, v, 3) == 3) {
        t->usage_set = 1;
        t->usage_input_tokens = v[0], t->usage_output_tokens = v[1], t->usage_cached_tokens = v[2];
    }
}

/* ---- the packed rare members of a task (x_enc() in lua/common.lua) ----------------------- */

struct rare {
    struct rs_arena *arena;
    const char *bad; /* first problem found, or NULL */
    int oom;
};

static void *alloc(struct rare *d, size_t size)
{
    void *p = rs_arena_alloc(d->arena, size ? size : 1);
    if (!p) d->oom = 1;
    return p;
}

/* A length-prefixed string ("<len>:<bytes>", as lp() in lua/common.lua writes it) at *p before
 * end: its bytes and length, *p moved past it; NULL when malformed. */
static const char *lp_next(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    size_t n = 0, digits = 0;
    while (s < end && *s >= '0' && *s <= '9' && digits < 10) {
        n = n * 10 + (size_t)(*s++ - '0');
        digits++;
    }
    if (digits == 0 || s >= end || *s != ':' || (size_t)(end - s - 1) < n) return NULL;
    *len = n;
    *p = s + 1 + n;
    return s + 1;
}

/* A NUL-terminated copy of [s, s + n) in the arena ("" stays ""). */
static char *dup_n(struct rare *d, const char *s, size_t n)
{
    char *p = alloc(d, n + 1); /* alloc zeroes */
    if (p) memcpy(p, s, n);
    return p;
}

/* The ended attempts of a task as stored (hist_add() in lua/common.lua): at most
 * CP_ATTEMPTS_MAX, copied into the arena. A malformed history marks the reply bad. */
static const struct cp_attempt *attempts(struct rare *d, const char *s, size_t len, uint32_t *n)
{
    *n = 0;
    if (len == 0) return NULL;
    struct cp_attempt *v = alloc(d, CP_ATTEMPTS_MAX * sizeof *v);
    if (!v) return NULL;
    const char *p = s, *end = s + len;
    while (p < end && *n < CP_ATTEMPTS_MAX) {
        size_t elen, flen[5];
        const char *e = lp_next(&p, end, &elen), *f[5];
        const char *q = e, *qend = e ? e + elen : NULL;
        for (int i = 0; e && i < 5; i++)
            if (!(f[i] = lp_next(&q, qend, &flen[i]))) e = NULL;
        if (!e) {
            d->bad = "bad attempts";
            return NULL;
        }
        char *fields[5];
        for (int i = 0; i < 5; i++)
            if (!(fields[i] = dup_n(d, f[i], flen[i]))) return NULL;
        struct cp_attempt *a = &v[(*n)++];
        a->agent_id = fields[0];
        a->started_ms = strtoll(fields[1], NULL, 10);
        a->ended_ms = strtoll(fields[2], NULL, 10);
        a->outcome = (int32_t)strtol(fields[3], NULL, 10);
        a->error = flen[4] ? fields[4] : NULL;
    }
    return *n ? v : NULL;
}

/* The backoff as stored ("type base_ms max_ms jitter"), or none. */
static void backoff(const char *s, struct cp_task_view *t)
{
    long long type, base, max;
    int jitter;
    if (s && sscanf(s, "%lld %lld %lld %d", &type, &base, &max, &jitter) == 4 && type >= 0 &&
        type < CP_BACKOFF_TYPE_COUNT) {
        t->backoff_type = (int32_t)type;
        t->backoff_ms = base;
        t->backoff_max_ms = max;
        t->backoff_jitter = jitter != 0;
    }
}

/* The packed rare members of a task (x_enc() in lua/common.lua): not_before, progress, ended
 * attempts, idempotency key, backoff, each length-prefixed ("" = none); nil = all none. */
static void rare_members(struct rare *d, const char *s, size_t len, struct cp_task_view *t)
{
    const char *p = s, *end = s + len, *f[7];
    size_t n[7];
    for (int i = 0; i < 7; i++) { /* est and usage (5, 6) are absent from older records */
        if (!(f[i] = lp_next(&p, end, &n[i])) && i < 5) {
            d->bad = "bad packed task members";
            return;
        }
        if (!f[i]) n[i] = 0;
    }
    char *nb = n[0] ? dup_n(d, f[0], n[0]) : NULL;
    t->not_before_ms = nb ? strtoll(nb, NULL, 10) : 0;
    t->progress_json = n[1] ? dup_n(d, f[1], n[1]) : NULL;
    t->attempts = attempts(d, f[2], n[2], &t->n_attempts);
    t->idempotency_key = n[3] ? dup_n(d, f[3], n[3]) : NULL;
    if (n[4]) backoff(dup_n(d, f[4], n[4]), t);
    rs_task_tokens(f[5], n[5], f[6], n[6], t);
    size_t tn; /* the tenant (2.4), after est and usage; absent: the default one */
    const char *ft = p < end ? lp_next(&p, end, &tn) : NULL;
    t->tenant = ft && tn ? dup_n(d, ft, tn) : NULL;
}

int rs_task_rare(const char *s, size_t len, struct rs_arena *arena, struct cp_task_view *t)
{
    struct rare d = {arena, NULL, 0};
    rare_members(&d, s, len, t);
    return d.oom ? RS_RECORD_NOMEM : d.bad ? RS_RECORD_MALFORMED : 0;
}
