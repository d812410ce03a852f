/* redis_plugin.c — the Redis storage plugin: descriptor, options, create/destroy,
 * availability, watch, status.
 *
 * Options: url (redis://[[user]:password@]host[:port][/db], default redis://localhost:6379, or
 * redis+sentinel://[[user]:password@]host:port[,host:port...]/master_name[/db]), sentinels +
 * master_name + sentinel_password (Sentinel in options instead of the url), nodes (more
 * host:port of the same deployment: Cluster seeds, or nodes that may become master), prefix
 * (default "aragora:cp:"; every key is "{<prefix>}..."), timeout_ms (default 5000: the
 * start-up connect, and how long a reply may be late before the connection is dropped and
 * re-made), lua ("auto", the default: FUNCTION LOAD when the server allows it, else EVALSHA;
 * "eval": always EVALSHA), wait_replicas + wait_timeout_ms (WAIT after writes). Key layout,
 * scripts, operations and high availability: docs/redis.md.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "redis_int.h"

static void make_instance_id(char out[17])
{
    unsigned char b[8];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* No entropy source: pid and time still tell processes apart. */
        uint64_t v = (uint64_t)getpid() << 40 ^ (uint64_t)time(NULL) ^ (uint64_t)rs_mono_ms();
        memcpy(b, &v, sizeof(b));
    }
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static char *concat3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

void rs_free(struct rs *rs)
{
    rs_url_free(&rs->url);
    rs_cache_free(rs);
    rs_feed_free(rs);
    free(rs->tag);
    free(rs->channel);
    free(rs->probe_key);
    free(rs->conn_key);
    rs_fence_free(rs);
    free(rs);
}

static int rs_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    struct rs_options opt;
    int rc = rs_options_parse(host, &opt, err);
    if (rc) return rc;
    const char *prefix = opt.prefix;
    long timeout_ms = opt.timeout_ms;
    int functions = opt.functions;
    struct event_base *base = host->event_base ? host->event_base(host) : NULL;
    if (!base || !host->timer_add || !host->timer_cancel) {
        snprintf(err->msg, sizeof(err->msg),
                 "redis: needs the host's event loop and timers (event_base is NULL)");
        return CP_ERR_INVALID;
    }
    struct rs *rs = calloc(1, sizeof(*rs));
    if (!rs) {
        snprintf(err->msg, sizeof(err->msg), "redis: out of memory");
        return CP_ERR_NOMEM;
    }
    rs->host = host;
    rs->base = base;
    rs->timeout_ms = (int)timeout_ms;
    rs->wait_replicas = opt.wait_replicas;
    rs->wait_timeout_ms = opt.wait_timeout_ms;
    rc = rs_options_url(host, &opt, &rs->url, err);
    if (rc) {
        rs_free(rs);
        return rc;
    }
    rs->tag = concat3("{", prefix, "}");
    rs->channel = concat3("{", prefix, "}events");
    rs->probe_key = concat3("{", prefix, "}seq");
    if (!rs->tag || !rs->channel || !rs->probe_key) {
        rs_free(rs);
        snprintf(err->msg, sizeof(err->msg), "redis: out of memory");
        return CP_ERR_NOMEM;
    }
    rs->slot = rs_key_slot(rs->tag, strlen(rs->tag));
    /* Reachable now? Blocking, at start-up only: the core decides fallback or exit on it. */
    rs->functions = functions;
    char warn[256] = "";
    rc = rs_startup_locate(rs, warn, sizeof warn, err);
    if (rc) {
        rs_free(rs);
        return rc;
    }
    /* Redis 7+ refusing the library is worth a warning: an ACL without FUNCTION is fine, but a
     * library that fails to load (a Lua error) would otherwise go unnoticed as slower scripts. */
    if (functions && !rs->functions && warn[0])
        host->log(host, CP_LOG_WARN, "redis: FUNCTION LOAD refused (%s); using EVALSHA scripts",
                  warn);
    err->msg[0] = '\0';
    rs->master_known = 1;
    rs->last_up = rs->master;
    make_instance_id(rs->inst);
    snprintf(rs->inst_epoch, sizeof rs->inst_epoch, "%s:%0*d", rs->inst, RS_EPOCH_DIGITS, 0);
    size_t kn = strlen(rs->tag) + sizeof "conn:" + sizeof rs->inst;
    if (!(rs->conn_key = malloc(kn))) {
        rs_free(rs);
        snprintf(err->msg, sizeof(err->msg), "redis: out of memory");
        return CP_ERR_NOMEM;
    }
    snprintf(rs->conn_key, kn, "%sconn:%s", rs->tag, rs->inst);
    rs_conn_init(rs, &rs->cmd, "command", RS_CONN_CMD);
    rs_conn_init(rs, &rs->sub, "pubsub", RS_CONN_SUB);
    for (int i = 0; i < RS_MAX_ADDRS; i++) {
        rs_conn_init(rs, &rs->watch[i], "sentinel", RS_CONN_WATCH);
        rs->watch[i].target = i;
    }
    rs_conn_start(&rs->cmd);
    rs_conn_start(&rs->sub);
    for (int i = 0; rs->url.sentinel && i < rs->url.n_addrs; i++)
        rs_conn_start(&rs->watch[i]);
    /* Redis answered a moment ago: commands may queue while the async connect completes (if it
     * fails they are answered CP_ERR_UNAVAILABLE and the backoff takes over). */
    if (rs->cmd.ac) rs->cmd.up = 1;
    rs_watchdog_start(rs);
    if (rs_cache_create(rs, opt.agent_cache, opt.agent_cache_resync_ms, opt.agent_cache_idle_ms))
        host->log(host, CP_LOG_WARN, "redis: out of memory: no agent cache (lists read Redis)");
    char master[RS_HOST_MAX + 16], mode[64] = "";
    rs_addr_format(&rs->master, master, sizeof master);
    if (rs->cluster)
        snprintf(mode, sizeof mode, ", cluster slot %d", rs->slot);
    else if (rs->url.sentinel)
        snprintf(mode, sizeof mode, ", Sentinel master '%.40s'", rs->url.master_name);
    char waits[64] = "";
    if (rs->wait_replicas)
        snprintf(waits, sizeof waits, ", WAIT %d replica(s) %d ms", rs->wait_replicas,
                 rs->wait_timeout_ms);
    host->log(host, CP_LOG_INFO,
              "redis: connected to %s (master %s%s), keys {%s}*, instance %s, %s%s",
              rs->url.display, master, mode, prefix, rs->inst,
              rs->functions ? "functions (FCALL)" : "scripts (EVALSHA)", waits);
    *state = rs;
    return 0;
}

/* Operations still in flight are answered CP_ERR_UNAVAILABLE by hiredis while it frees the
 * command connection; operations started from those callbacks fail at once (destroying).
 * Called from inside one of our callbacks, hiredis defers the free until that callback
 * returns: the state then lives until the last owed reply has been delivered (rs_leave). */
static void rs_destroy(void *state)
{
    struct rs *rs = state;
    if (!rs || rs->destroying) return;
    rs_enter(rs);
    rs->destroying = 1;
    rs->on_change = NULL;
    rs_cache_stop(rs);
    rs_feed_stop(rs);
    if (rs->watchdog) {
        rs->host->timer_cancel(rs->host, rs->watchdog);
        rs->watchdog = NULL;
    }
    rs_sentinel_cancel(rs);
    rs_fence_stop(rs);
    rs_queue_fail(rs, "shutting down");
    rs_wait_cancel(rs);
    rs_conn_stop(&rs->cmd);
    rs_conn_stop(&rs->sub);
    for (int i = 0; i < RS_MAX_ADDRS; i++)
        rs_conn_stop(&rs->watch[i]);
    rs_leave(rs);
}

static void rs_watch(void *st, void (*on_change)(void *arg, const char *kind, const char *id),
                     void *arg)
{
    struct rs *rs = st;
    rs->on_change = on_change;
    rs->on_change_arg = arg;
}

static int rs_is_available(void *st)
{
    struct rs *rs = st;
    return rs->cmd.up && !rs->destroying;
}

static void rs_status(void *st, struct cp_storage_status *out)
{
    struct rs *rs = st;
    struct cp_storage_status s;
    memset(&s, 0, sizeof(s));
    s.up = rs->cmd.up && !rs->destroying;
    snprintf(s.mode, sizeof s.mode, "%s",
             rs->cluster        ? "cluster"
             : rs->url.sentinel ? "sentinel"
                                : "standalone");
    if (rs->master.port) rs_addr_format(&rs->master, s.address, sizeof s.address);
    s.reconnects = rs->n_reconnects;
    s.failovers = rs->n_failovers;
    s.redirects = rs->n_redirects;
    s.unconfirmed_writes = rs->n_unconfirmed;
    size_t n = out->size < sizeof(s) ? out->size : sizeof(s);
    s.size = (uint32_t)n;
    memcpy(out, &s, n);
}

static const struct cp_storage_ops rs_ops = {
    .version = CP_STORAGE_OPS_VERSION,
    .create = rs_create,
    .destroy = rs_destroy,
    .agent_register = rs_agent_register,
    .agent_get = rs_agent_get,
    .agent_list = rs_agent_list,
    .agent_heartbeat = rs_agent_heartbeat,
    .agent_unregister = rs_agent_unregister,
    .agent_set_health = rs_agent_set_health,
    .task_submit = rs_task_submit,
    .task_get = rs_task_get,
    .task_list = rs_task_list,
    .task_claim = rs_task_claim,
    .task_transition = rs_task_transition,
    .reap = rs_reap,
    .stats = rs_stats,
    .watch = rs_watch,
    .is_available = rs_is_available,
    .status = rs_status,
    .validate_options = rs_validate_options,
    .feed = rs_feed,
    .task_extend = rs_task_extend,
    .task_retry = rs_task_retry,
    .task_purge = rs_task_purge,
    .task_submit_batch = rs_task_submit_batch,
    .agent_drain = rs_agent_drain,
    .task_complete_next = rs_task_complete_next,
    .tenant_put = rs_tenant_put,
    .tenant_delete = rs_tenant_delete,
    .tenant_list = rs_tenant_list,
    .quota_put = rs_quota_put,
    .quota_delete = rs_quota_delete,
    .quota_list = rs_quota_list,
    .affinity_get = rs_affinity_get,
    .affinity_set = rs_affinity_set,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_STORAGE, "redis", "0.1.0", &rs_ops);
