/* redis_affinity.c — prompt-cache affinity's key -> agent memory on Redis (storage.h
 * affinity_get / affinity_set, since 2.4): one string key per affinity key,
 * "{prefix}aff:<key>" = the agent id, set with PX = its TTL, so every cpd process on the server
 * reads what any of them wrote and Redis itself forgets it when the TTL passes (the memory is
 * bounded by how many keys were completed within one TTL). A plain GET / SET: nothing to read
 * and write in one step, so no script; the key shares the prefix's hash tag (one Cluster slot,
 * like the rest of the layout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

#define AFF_KEY_MAX CP_AFFINITY_KEY_MAX

struct aff_call {
    cp_storage_cb cb;
    void *cookie;
};

/* "{prefix}aff:<key>" into a new string, or NULL (bad key / out of memory: *rc says). */
static char *aff_redis_key(const struct rs *rs, const char *key, int *rc)
{
    size_t kl = key ? strlen(key) : 0;
    if (kl == 0 || kl > AFF_KEY_MAX) {
        *rc = CP_ERR_INVALID;
        return NULL;
    }
    size_t n = strlen(rs->tag) + sizeof "aff:" + kl;
    char *out = malloc(n);
    if (!out) {
        *rc = CP_ERR_NOMEM;
        return NULL;
    }
    snprintf(out, n, "%saff:%s", rs->tag, key);
    return out;
}

static void on_reply(struct rs *rs, const redisReply *reply, void *cookie)
{
    struct aff_call *call = cookie;
    cp_storage_cb cb = call->cb;
    void *ck = call->cookie;
    free(call);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        rs_fail(cb, ck, CP_ERR_UNAVAILABLE, "redis: %s: %.200s", rs->url.display,
                reply ? reply->str : "no reply");
        return;
    }
    struct cp_result res;
    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    char agent[CP_AFFINITY_AGENT_MAX + 1];
    if (reply->type == REDIS_REPLY_STRING && reply->len > 0 &&
        reply->len <= CP_AFFINITY_AGENT_MAX) {
        memcpy(agent, reply->str, reply->len); /* bytes from Redis: bounded, NUL-terminated */
        agent[reply->len] = '\0';
        res.affinity_agent = agent;
    }
    cb(ck, &res);
}

static void send_cmd(struct rs *rs, const char *what, int argc, const char **argv,
                     const size_t *lens, cp_storage_cb cb, void *cookie)
{
    struct aff_call *call = malloc(sizeof *call);
    if (!call) {
        rs_fail(cb, cookie, CP_ERR_NOMEM, "redis: out of memory");
        return;
    }
    call->cb = cb;
    call->cookie = cookie;
    if (rs_send_raw(rs, what, argc, argv, lens, on_reply, call) != 0) {
        free(call);
        rs_fail(cb, cookie, CP_ERR_UNAVAILABLE, "redis: %s is unreachable", rs->url.display);
    }
}

void rs_affinity_get(void *st, const char *key, int64_t now_ms, cp_storage_cb cb, void *cookie)
{
    (void)now_ms; /* Redis expires the key itself */
    struct rs *rs = st;
    int rc = 0;
    char *k = aff_redis_key(rs, key, &rc);
    if (!k) {
        rs_fail(cb, cookie, rc, "%s", rc == CP_ERR_INVALID ? "bad affinity key" : "out of memory");
        return;
    }
    const char *argv[2] = {"GET", k};
    size_t lens[2] = {3, strlen(k)};
    send_cmd(rs, "affinity (GET)", 2, argv, lens, cb, cookie);
    free(k);
}

void rs_affinity_set(void *st, const struct cp_affinity *a, cp_storage_cb cb, void *cookie)
{
    struct rs *rs = st;
    if (!a || !a->agent_id || !*a->agent_id || strlen(a->agent_id) > CP_AFFINITY_AGENT_MAX ||
        a->ttl_ms <= 0) {
        rs_fail(cb, cookie, CP_ERR_INVALID, "affinity agent and ttl are required");
        return;
    }
    int rc = 0;
    char *k = aff_redis_key(rs, a->key, &rc);
    if (!k) {
        rs_fail(cb, cookie, rc, "%s", rc == CP_ERR_INVALID ? "bad affinity key" : "out of memory");
        return;
    }
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)a->ttl_ms);
    const char *argv[5] = {"SET", k, a->agent_id, "PX", ttl};
    size_t lens[5] = {3, strlen(k), strlen(a->agent_id), 2, strlen(ttl)};
    send_cmd(rs, "affinity (SET)", 5, argv, lens, cb, cookie);
    free(k);
}
