/* redis_options.c — the Redis plugin's options (url, prefix, timeout_ms, lua), checked the same
 * way by create() and by validate_options() (cpd --check-config), which connects nowhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

#define DEFAULT_URL "redis://localhost:6379"
#define DEFAULT_PREFIX "aragora:cp:"
#define DEFAULT_TIMEOUT_MS 5000

int rs_options_parse(const struct cp_host *host, struct rs_options *o, struct cp_err *err)
{
    const char *url = host->option(host, "url");
    const char *prefix = host->option(host, "prefix");
    const char *timeout = host->option(host, "timeout_ms");
    const char *lua = host->option(host, "lua");
    memset(o, 0, sizeof *o);
    o->url = url && *url ? url : DEFAULT_URL;
    o->prefix = prefix ? prefix : DEFAULT_PREFIX;
    if (strpbrk(o->prefix, "{}")) {
        snprintf(err->msg, sizeof(err->msg),
                 "redis: prefix \"%.100s\" may not contain '{' or '}' (it becomes a hash tag)",
                 o->prefix);
        return CP_ERR_INVALID;
    }
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
    if (timeout) {
        char *end;
        long v = strtol(timeout, &end, 10);
        if (end == timeout || *end || v < 10 || v > 600000) {
            snprintf(err->msg, sizeof(err->msg),
                     "redis: timeout_ms \"%.40s\" must be a number of milliseconds 10-600000",
                     timeout);
            return CP_ERR_INVALID;
        }
        o->timeout_ms = (int)v;
    }
    o->functions = 1;
    if (lua && strcmp(lua, "eval") == 0) {
        o->functions = 0;
    } else if (lua && strcmp(lua, "auto") != 0) {
        snprintf(err->msg, sizeof(err->msg), "redis: lua \"%.40s\" must be auto or eval", lua);
        return CP_ERR_INVALID;
    }
    return 0;
}

int rs_validate_options(const struct cp_host *host, struct cp_err *err)
{
    struct rs_options o;
    int rc = rs_options_parse(host, &o, err);
    if (rc) return rc;
    struct rs_url url;
    rc = rs_url_parse(o.url, &url, err);
    if (rc == 0) rs_url_free(&url);
    return rc;
}
