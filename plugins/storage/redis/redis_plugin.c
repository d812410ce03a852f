/* redis_plugin.c — the Redis storage plugin: descriptor, create/destroy, availability, watch.
 *
 * Options: url (redis://[[user]:password@]host[:port][/db], default redis://localhost:6379),
 * prefix (default "aragora:cp:"; every key is "{<prefix>}..."), timeout_ms (default 5000: the
 * start-up connect, and how long a reply may be late before the connection is dropped and
 * re-made), lua ("auto", the default: FUNCTION LOAD when the server allows it, else EVALSHA;
 * "eval": always EVALSHA). Key layout, scripts and operations: docs/redis.md.
 */
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
    free(rs->tag);
    free(rs->channel);
    free(rs);
}

static int rs_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    struct rs_options opt;
    int rc = rs_options_parse(host, &opt, err);
    if (rc) return rc;
    const char *url = opt.url, *prefix = opt.prefix;
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
    rc = rs_url_parse(url, &rs->url, err);
    if (rc) {
        free(rs);
        return rc;
    }
    rs->tag = concat3("{", prefix, "}");
    rs->channel = concat3("{", prefix, "}events");
    if (!rs->tag || !rs->channel) {
        rs_free(rs);
        snprintf(err->msg, sizeof(err->msg), "redis: out of memory");
        return CP_ERR_NOMEM;
    }
    /* Reachable now? Blocking, at start-up only: the core decides fallback or exit on it. */
    rs->functions = functions;
    rc = rs_sync_check(&rs->url, rs->timeout_ms, rs->shas, &rs->functions, err);
    if (rc) {
        rs_free(rs);
        return rc;
    }
    /* Redis 7+ refusing the library is worth a warning: an ACL without FUNCTION is fine, but a
     * library that fails to load (a Lua error) would otherwise go unnoticed as slower scripts. */
    if (functions && !rs->functions && err->msg[0])
        host->log(host, CP_LOG_WARN, "redis: FUNCTION LOAD refused (%s); using EVALSHA scripts",
                  err->msg);
    err->msg[0] = '\0';
    make_instance_id(rs->inst);
    rs_conn_init(rs, &rs->cmd, "command", 0);
    rs_conn_init(rs, &rs->sub, "pubsub", 1);
    rs_conn_start(&rs->cmd);
    rs_conn_start(&rs->sub);
    /* Redis answered a moment ago: commands may queue while the async connect completes (if it
     * fails they are answered CP_ERR_UNAVAILABLE and the backoff takes over). */
    if (rs->cmd.ac) rs->cmd.up = 1;
    rs_watchdog_start(rs);
    host->log(host, CP_LOG_INFO, "redis: connected to %s, keys {%s}*, instance %s, %s",
              rs->url.display, prefix, rs->inst,
              rs->functions ? "functions (FCALL)" : "scripts (EVALSHA)");
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
    if (rs->watchdog) {
        rs->host->timer_cancel(rs->host, rs->watchdog);
        rs->watchdog = NULL;
    }
    rs_conn_stop(&rs->cmd);
    rs_conn_stop(&rs->sub);
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
    .validate_options = rs_validate_options,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_STORAGE, "redis", "0.1.0", &rs_ops);
