/* redis_fields.c — the fields of an agent and of a task in the order of a record as stored
 * (layout 4; A_REC and T_REC in lua/common.lua): the reply's fields, which redis_reply.c reads,
 * then the scripts' own. tests/test_redis_fields.c checks them against common.lua. */
#include <stdio.h>
#include <string.h>

#include "redis_int.h"

const char *const rs_agent_fields[RS_AGENT_FIELDS] = {
    "id",  "caps", "st",   "model", "prov", "md",  "probe", "reg", "hb",  "la",
    "mc",  "inf",  "cur",  "tc",    "tf",   "ls",  "lc",    "hs",  "hlc", "hcf",
    "hcs", "hlat", "herr", "hci",   "hcif", "hco", "hoa",   "hra", "dra", "rep"};

const char *const rs_task_fields[RS_TASK_FIELDS] = {
    "id", "type", "pl", "req", "st",  "pr",  "cat", "clat",  "stat", "coat", "ps", "ag",
    "to", "mr",   "re", "att", "res", "err", "md",  "strat", "poa",  "pou",  "dl", "x"};

const char *const rs_agent_own_fields[RS_AGENT_OWN_FIELDS] = {"wr"};
const char *const rs_task_own_fields[RS_TASK_OWN_FIELDS] = {"cm",  "qs",   "qk", "qm", "pqm",
                                                            "pqs", "cseq", "dw", "ctk"};

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
