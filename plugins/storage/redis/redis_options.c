/* redis_options.c — the Redis plugin's options (url, prefix, timeout_ms, lua, wait_replicas,
 * wait_timeout_ms, agent_cache, agent_cache_resync_ms, agent_cache_idle_ms, and the address options
 * sentinels / master_name / sentinel_password / nodes), checked the same way by create() and by
 * validate_options() (cpd --check-config), which connects nowhere. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

#define DEFAULT_URL "redis://localhost:6379"
#define DEFAULT_PREFIX "aragora:cp:"
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_CACHE_RESYNC_MS 10000
#define DEFAULT_CACHE_IDLE_MS 60000

/* A whole number within [lo, hi] from an option, or -1 (absent: def). */
static long int_option(const char *v, long lo, long hi, long def)
{
    if (!v) return def;
    char *end;
    long n = strtol(v, &end, 10);
    return end == v || *end || n < lo || n > hi ? -1 : n;
}

int rs_options_parse(const struct cp_host *host, struct rs_options *o, struct cp_err *err)
{
    const char *url = host->option(host, "url");
    const char *prefix = host->option(host, "prefix");
    const char *timeout = host->option(host, "timeout_ms");
    const char *lua = host->option(host, "lua");
    const char *wait_n = host->option(host, "wait_replicas");
    const char *wait_ms = host->option(host, "wait_timeout_ms");
    memset(o, 0, sizeof *o);
    o->url = url && *url ? url : DEFAULT_URL;
    o->prefix = prefix ? prefix : DEFAULT_PREFIX;
    if (strpbrk(o->prefix, "{}")) {
        snprintf(err->msg, sizeof(err->msg),
                 "redis: prefix \"%.100s\" may not contain '{' or '}' (it becomes a hash tag)",
                 o->prefix);
        return CP_ERR_INVALID;
    }
    long timeout_ms = int_option(timeout, 10, 600000, DEFAULT_TIMEOUT_MS);
    if (timeout_ms < 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "redis: timeout_ms \"%.40s\" must be a number of milliseconds 10-600000", timeout);
        return CP_ERR_INVALID;
    }
    o->timeout_ms = (int)timeout_ms;
    long replicas = int_option(wait_n, 0, 100, 0);
    if (replicas < 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "redis: wait_replicas \"%.40s\" must be a number of replicas 0-100", wait_n);
        return CP_ERR_INVALID;
    }
    o->wait_replicas = (int)replicas;
    /* WAIT holds the connection: it must end well before the watchdog gives the reply up. */
    long wait_max = timeout_ms / 2 > 1 ? timeout_ms / 2 : 1;
    long wait_timeout = int_option(wait_ms, 1, wait_max, wait_max < 1000 ? wait_max : 1000);
    if (wait_timeout < 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "redis: wait_timeout_ms \"%.40s\" must be 1-%ld (at most half of timeout_ms)",
                 wait_ms, wait_max);
        return CP_ERR_INVALID;
    }
    o->wait_timeout_ms = (int)wait_timeout;
    const char *cache = host->option(host, "agent_cache");
    const char *resync = host->option(host, "agent_cache_resync_ms");
    if (!cache || strcmp(cache, "auto") == 0) {
        o->agent_cache = RS_CACHE_AUTO;
    } else if (strcmp(cache, "on") == 0) {
        o->agent_cache = RS_CACHE_ON;
    } else if (strcmp(cache, "off") == 0) {
        o->agent_cache = RS_CACHE_OFF;
    } else {
        snprintf(err->msg, sizeof(err->msg), "redis: agent_cache \"%.40s\" must be auto, on or off",
                 cache);
        return CP_ERR_INVALID;
    }
    long resync_ms = int_option(resync, 0, 3600000, DEFAULT_CACHE_RESYNC_MS);
    if (resync_ms < 0 || (resync_ms > 0 && resync_ms < 1000)) {
        snprintf(err->msg, sizeof(err->msg),
                 "redis: agent_cache_resync_ms \"%.40s\" must be 0 (never) or 1000-3600000",
                 resync);
        return CP_ERR_INVALID;
    }
    o->agent_cache_resync_ms = resync_ms;
    const char *idle = host->option(host, "agent_cache_idle_ms");
    long idle_ms = int_option(idle, 1000, 86400000, DEFAULT_CACHE_IDLE_MS);
    if (idle_ms < 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "redis: agent_cache_idle_ms \"%.40s\" must be 1000-86400000", idle);
        return CP_ERR_INVALID;
    }
    o->agent_cache_idle_ms = idle_ms;
    o->functions = 1;
    if (lua && strcmp(lua, "eval") == 0) {
        o->functions = 0;
    } else if (lua && strcmp(lua, "auto") != 0) {
        snprintf(err->msg, sizeof(err->msg), "redis: lua \"%.40s\" must be auto or eval", lua);
        return CP_ERR_INVALID;
    }
    return 0;
}

/* The address options beyond `url`: sentinels / master_name / sentinel_password / nodes. */
static int address_options(const struct cp_host *host, struct rs_url *u, struct cp_err *err)
{
    const char *sentinels = host->option(host, "sentinels");
    const char *name = host->option(host, "master_name");
    const char *spass = host->option(host, "sentinel_password");
    const char *nodes = host->option(host, "nodes");
    if (sentinels && *sentinels) {
        if (!u->sentinel) { /* the url then gives the user, password and database only */
            u->sentinel = 1;
            u->n_addrs = 0;
        }
        int rc = rs_url_add_option_addrs(u, "sentinels", sentinels, err);
        if (rc) return rc;
    }
    if (name && *name) {
        if (!u->sentinel) {
            snprintf(err->msg, sizeof(err->msg),
                     "redis: master_name needs sentinels (or a redis+sentinel:// url)");
            return CP_ERR_INVALID;
        }
        if (u->master_name && strcmp(u->master_name, name) != 0) {
            snprintf(err->msg, sizeof(err->msg),
                     "redis: master_name \"%.60s\" differs from the url's \"%.60s\"", name,
                     u->master_name);
            return CP_ERR_INVALID;
        }
        size_t n = strlen(name);
        for (size_t i = 0; i < n; i++)
            if (n > 128 || !(isalnum((unsigned char)name[i]) || strchr("._-:", name[i]))) {
                snprintf(err->msg, sizeof(err->msg),
                         "redis: master_name \"%.60s\" must be 1-128 of [A-Za-z0-9._:-]", name);
                return CP_ERR_INVALID;
            }
        if (!u->master_name && !(u->master_name = strdup(name))) {
            snprintf(err->msg, sizeof(err->msg), "redis: out of memory");
            return CP_ERR_NOMEM;
        }
    }
    if (u->sentinel && !u->master_name) {
        snprintf(err->msg, sizeof(err->msg),
                 "redis: Sentinel needs master_name (or redis+sentinel://host:port/master_name)");
        return CP_ERR_INVALID;
    }
    if (spass && *spass) {
        if (!u->sentinel) {
            snprintf(err->msg, sizeof(err->msg), "redis: sentinel_password needs sentinels");
            return CP_ERR_INVALID;
        }
        if (!(u->sentinel_password = strdup(spass))) {
            snprintf(err->msg, sizeof(err->msg), "redis: out of memory");
            return CP_ERR_NOMEM;
        }
    }
    if (nodes && *nodes) {
        if (u->sentinel) {
            snprintf(err->msg, sizeof(err->msg),
                     "redis: nodes cannot be used with Sentinel (the sentinels name the master)");
            return CP_ERR_INVALID;
        }
        int rc = rs_url_add_option_addrs(u, "nodes", nodes, err);
        if (rc) return rc;
    }
    rs_url_update_display(u);
    return 0;
}

int rs_options_url(const struct cp_host *host, const struct rs_options *o, struct rs_url *u,
                   struct cp_err *err)
{
    int rc = rs_url_parse(o->url, u, err);
    if (!rc) rc = address_options(host, u, err);
    return rc;
}

int rs_validate_options(const struct cp_host *host, struct cp_err *err)
{
    struct rs_options o;
    int rc = rs_options_parse(host, &o, err);
    if (rc) return rc;
    struct rs_url url;
    memset(&url, 0, sizeof url);
    rc = rs_options_url(host, &o, &url, err);
    rs_url_free(&url);
    return rc;
}
