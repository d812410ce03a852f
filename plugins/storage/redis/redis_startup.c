/* redis_startup.c — the blocking start-up check that tells create() whether Redis can be used
 * at all, and where: ask the sentinels in turn (redis+sentinel://), or try the node and its
 * seeds (redis://, `nodes`), follow MOVED to the owner of the tag's slot (Redis Cluster),
 * insist on ROLE master, then load the library or the scripts.
 *
 * Why at start-up and synchronously: the core decides "fall back to memory or exit" on the
 * answer, before anything listens. A wrong node must fail here (or be followed), never give a
 * process that runs and answers 503 to everything. The same rules hold on every reconnect
 * (redis_conn.c, redis_sentinel.c), asynchronously there.
 *
 * Error messages name the url as rs_url.display: never a password.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cp/time.h>

#include "redis_int.h"

/* Why a command got no reply, into why. A reply that does not come within the socket timeout
 * shows up as EAGAIN ("Resource temporarily unavailable" in hiredis 0.14): say "no reply
 * within N ms" instead, which is what happened. Reads errno: call right after the command. */
static void no_reply(redisContext *c, int timeout_ms, const char *what, char *why, size_t n)
{
    int e = errno;
    if (c->err == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT))
        snprintf(why, n, "no reply to %.40s within %d ms", what, timeout_ms);
    else
        snprintf(why, n, "%.40s failed: %.60s", what, c->errstr[0] ? c->errstr : "connection lost");
}

/* One command; the reply (caller frees), or NULL with why filled (no reply, or an error reply
 * unless keep_errors). */
static redisReply *cmd(redisContext *c, int timeout_ms, const char *what, int argc,
                       const char **argv, const size_t *lens, int keep_errors, char *why, size_t n)
{
    errno = 0;
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) {
        no_reply(c, timeout_ms, what, why, n);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR && !keep_errors) {
        snprintf(why, n, "%.40s refused: %.100s", what, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static redisContext *connect_to(const struct rs_addr *a, int timeout_ms, char *why, size_t n)
{
    struct timeval tv = cp_ms_to_timeval(timeout_ms);
    redisContext *c = redisConnectWithTimeout(a->host, a->port, tv);
    if (!c || c->err) {
        snprintf(why, n, "%.100s", c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

static int auth(redisContext *c, int timeout_ms, const char *user, const char *password, char *why,
                size_t n)
{
    if (!password) return 0;
    const char *argv[3] = {"AUTH", user ? user : password, password};
    redisReply *r = cmd(c, timeout_ms, "AUTH", user ? 3 : 2, argv, NULL, 0, why, n);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

/* FUNCTION LOAD (rs->functions: 1 = try; left 0 with the reason in warn when refused), else
 * SCRIPT LOAD of every script. */
static int load_code(struct rs *rs, redisContext *c, char *warn, size_t warn_size, char *why,
                     size_t n)
{
    redisReply *r;
    if (rs->functions) {
        /* An error reply (unknown command before Redis 7, NOPERM) means: use the scripts. */
        const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", rs_library};
        size_t lens[4] = {8, 4, 7, rs_library_len};
        if (!(r = cmd(c, rs->timeout_ms, "FUNCTION LOAD", 4, argv, lens, 1, why, n))) return -1;
        rs->functions = r->type != REDIS_REPLY_ERROR;
        if (!rs->functions) snprintf(warn, warn_size, "%.200s", r->str ? r->str : "");
        freeReplyObject(r);
        if (rs->functions) return 0;
    }
    for (int i = 0; i < RS_SCRIPT_COUNT; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", rs_scripts[i].text};
        size_t lens[3] = {6, 4, rs_scripts[i].len};
        char what[64];
        snprintf(what, sizeof(what), "SCRIPT LOAD of %s.lua", rs_scripts[i].name);
        if (!(r = cmd(c, rs->timeout_ms, what, 3, argv, lens, 0, why, n))) return -1;
        int ok = r->type == REDIS_REPLY_STRING && r->len == 40;
        if (ok) {
            memcpy(rs->shas[i], r->str, 40);
            rs->shas[i][40] = '\0';
        }
        freeReplyObject(r);
        if (!ok) {
            snprintf(why, n, "SCRIPT LOAD of %.40s: bad reply", rs_scripts[i].name);
            return -1;
        }
    }
    return 0;
}

/* Layout 3 counts tasks by status from the status indexes (ZCARD of ts:<status> and tasks)
 * instead of the counters tasks_total and ts:<status> of {prefix}stats that 1 and 2 kept up:
 * upgrading deletes them, so nothing stale is left to be read. Idempotent (two processes may
 * upgrade at once; one still on layout 2 recreates the fields, which nothing reads). */
static int layout_upgrade(struct rs *rs, redisContext *c, char *why, size_t n)
{
    size_t tag_len = strlen(rs->tag);
    char *stats = malloc(tag_len + sizeof "stats");
    if (!stats) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    memcpy(stats, rs->tag, tag_len);
    memcpy(stats + tag_len, "stats", sizeof "stats");
    const char *hdel[] = {"HDEL", stats,  "tasks_total", "ts:0", "ts:1",
                          "ts:2", "ts:3", "ts:4",        "ts:5", "ts:6"};
    redisReply *r = cmd(c, rs->timeout_ms, "HDEL of the task counters",
                        (int)(sizeof hdel / sizeof *hdel), hdel, NULL, 0, why, n);
    free(stats);
    if (!r) return -1;
    freeReplyObject(r);
    return 0;
}

/* The key layout's version ({prefix}layout, docs/redis.md "Layout version"): 1 was cpd 0.1's
 * (which wrote no such key), 2 added to it without changing what was there, 3 stopped keeping
 * the task counters (layout_upgrade()), 4 stores each record as one value and fences processes
 * of older layouts (redis_upgrade.c). A layout older than ours is upgraded in place; one newer
 * than ours, or a value that is no version, refuses start-up — a cpd must never write data laid
 * out by a newer one. Reads what the scripts will use, so it runs after the node check. */
static int layout_rounds(struct rs *rs, redisContext *c, const char *key, char *why, size_t n)
{
    for (int round = 0; round < 2; round++) {
        const char *get[2] = {"GET", key};
        redisReply *r =
            cmd(c, rs->timeout_ms, "GET of the layout version", 2, get, NULL, 0, why, n);
        if (!r) return -1;
        char *end = NULL;
        long v = r->type == REDIS_REPLY_STRING ? strtol(r->str, &end, 10) : 0;
        int valid =
            r->type == REDIS_REPLY_STRING && end && end != r->str && !*end && v >= 1 && v <= 999;
        int absent = r->type == REDIS_REPLY_NIL;
        freeReplyObject(r);
        if (!absent && !valid) {
            snprintf(why, n, "%.40s holds no layout version: another application's prefix?", key);
            return -1;
        }
        if (valid && v > RS_LAYOUT_VERSION) {
            snprintf(why, n,
                     "layout version %ld under %.30s is newer than this cpd's %d: upgrade cpd, or "
                     "use another prefix",
                     v, rs->tag, RS_LAYOUT_VERSION);
            return -1;
        }
        if (valid && v == RS_LAYOUT_VERSION) return 0;
        /* Absent (new, or written by 0.1) or older: ours from now on. NX when absent, so that a
         * newer cpd starting at the same moment is not overwritten; then read it again. */
        /* Layout 4's upgrade sets the version, unless a newer one is there by then. */
        if (layout_upgrade(rs, c, why, n) != 0 || rs_layout_upgrade4(rs, c, why, n) != 0) return -1;
        if (absent)
            rs->host->log(rs->host, CP_LOG_INFO,
                          "redis: key layout under %s: version %d recorded (none was: a new "
                          "store, or cpd 0.1's layout 1, upgraded in place)",
                          rs->tag, RS_LAYOUT_VERSION);
        else
            rs->host->log(rs->host, CP_LOG_INFO,
                          "redis: key layout under %s: upgraded in place from version %ld to %d",
                          rs->tag, v, RS_LAYOUT_VERSION);
    }
    return 0;
}

/* check_layout() with the key {prefix}layout. */
static int check_layout(struct rs *rs, redisContext *c, char *why, size_t n)
{
    size_t tag_len = strlen(rs->tag);
    char *key = malloc(tag_len + sizeof "layout");
    if (!key) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    memcpy(key, rs->tag, tag_len);
    memcpy(key + tag_len, "layout", sizeof "layout");
    int rc = layout_rounds(rs, c, key, why, n);
    free(key);
    return rc;
}

enum { NODE_OK = 0, NODE_REDIRECT = 1, NODE_FAILED = -1, NODE_NOT_MASTER = -2 };

/* Connects to `a` and checks it is the one to use; on NODE_REDIRECT, *to is the owner of the
 * slot named by MOVED. */
static int check_node(struct rs *rs, const struct rs_addr *a, struct rs_addr *to, char *warn,
                      size_t warn_size, char *why, size_t n)
{
    redisContext *c = connect_to(a, rs->timeout_ms, why, n);
    if (!c) return NODE_FAILED;
    int rc = NODE_FAILED;
    redisReply *r;
    if (auth(c, rs->timeout_ms, rs->url.user, rs->url.password, why, n) != 0) goto out;
    const char *role_argv[1] = {"ROLE"};
    if (!(r = cmd(c, rs->timeout_ms, "ROLE", 1, role_argv, NULL, 0, why, n))) goto out;
    int role = rs_parse_role(r);
    freeReplyObject(r);
    if (role == RS_ROLE_SENTINEL) {
        snprintf(why, n,
                 "it is a Sentinel, not a data node: use "
                 "redis+sentinel://host:port/<master name>");
        goto out;
    }
    /* Cluster mode? CLUSTER MYID answers an error on a server without it. */
    const char *myid_argv[2] = {"CLUSTER", "MYID"};
    if (!(r = cmd(c, rs->timeout_ms, "CLUSTER MYID", 2, myid_argv, NULL, 1, why, n))) goto out;
    int cluster = r->type == REDIS_REPLY_STRING;
    freeReplyObject(r);
    if (cluster && rs->url.sentinel) {
        snprintf(why, n, "Sentinel named a node that runs Redis Cluster");
        goto out;
    }
    if (cluster) {
        if (rs->url.db) {
            snprintf(why, n, "Redis Cluster has only database 0 (the url asks for %d)", rs->url.db);
            goto out;
        }
        /* Does this node serve the tag's slot? Any key of the slot tells (MOVED if not). */
        const char *argv[2] = {"EXISTS", rs->probe_key};
        if (!(r = cmd(c, rs->timeout_ms, "EXISTS", 2, argv, NULL, 1, why, n))) goto out;
        int ask = 0, slot;
        int redirect =
            r->type == REDIS_REPLY_ERROR && rs_parse_redirect(r->str, r->len, &ask, &slot, to) == 0;
        if (redirect && !ask) {
            if (!to->host[0]) snprintf(to->host, sizeof(to->host), "%s", a->host);
            freeReplyObject(r);
            rc = NODE_REDIRECT;
            goto out;
        }
        if (r->type == REDIS_REPLY_ERROR && !redirect) {
            snprintf(why, n, "EXISTS refused: %.100s", r->str); /* CLUSTERDOWN... */
            freeReplyObject(r);
            goto out;
        }
        freeReplyObject(r); /* a number, or ASK: the slot is ours, migrating away */
    } else if (rs->url.db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", rs->url.db);
        const char *argv[2] = {"SELECT", db};
        if (!(r = cmd(c, rs->timeout_ms, "SELECT", 2, argv, NULL, 0, why, n))) goto out;
        freeReplyObject(r);
    }
    if (role != RS_ROLE_MASTER) {
        snprintf(why, n, "it is a %s, not the master",
                 role == RS_ROLE_REPLICA ? "replica" : "server of an unknown role");
        rc = NODE_NOT_MASTER;
        goto out;
    }
    if (load_code(rs, c, warn, warn_size, why, n) != 0) goto out;
    if (check_layout(rs, c, why, n) != 0) goto out;
    rs->cluster = cluster;
    rc = NODE_OK;
out:
    redisFree(c);
    return rc;
}

/* The node itself or, following MOVED (bounded), the owner of the slot. */
static int try_node(struct rs *rs, const struct rs_addr *start, char *warn, size_t warn_size,
                    char *why, size_t n)
{
    struct rs_addr a = *start, to;
    for (int hop = 0; hop <= RS_MAX_REDIRECTS; hop++) {
        int rc = check_node(rs, &a, &to, warn, warn_size, why, n);
        if (rc == NODE_OK) {
            rs->master = a;
            return 0;
        }
        if (rc != NODE_REDIRECT) return rc;
        char from[RS_HOST_MAX + 16], dest[RS_HOST_MAX + 16];
        rs_addr_format(&a, from, sizeof from);
        rs_addr_format(&to, dest, sizeof dest);
        rs->host->log(rs->host, CP_LOG_INFO,
                      "redis: %s does not serve slot %d of %s; following MOVED to %s", from,
                      rs->slot, rs->tag, dest);
        a = to;
    }
    snprintf(why, n, "more than %d MOVED redirections", RS_MAX_REDIRECTS);
    return NODE_FAILED;
}

/* SENTINEL get-master-addr-by-name on sentinel `i`: 1 with *out, or 0 with why. */
static int ask_sentinel(struct rs *rs, int i, struct rs_addr *out, char *why, size_t n)
{
    int timeout = rs->timeout_ms < 1000 ? rs->timeout_ms : 1000; /* a dead one costs little */
    redisContext *c = connect_to(&rs->url.addrs[i], timeout, why, n);
    if (!c) return 0;
    int ok = 0;
    if (auth(c, timeout, NULL, rs->url.sentinel_password, why, n) == 0) {
        const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", rs->url.master_name};
        redisReply *r =
            cmd(c, timeout, "SENTINEL get-master-addr-by-name", 3, argv, NULL, 0, why, n);
        if (r) {
            ok = rs_parse_master_addr(r, out);
            if (ok == 0) snprintf(why, n, "it does not know master '%.60s'", rs->url.master_name);
            if (ok < 0) snprintf(why, n, "unexpected reply to get-master-addr-by-name");
            ok = ok > 0;
            freeReplyObject(r);
        }
    }
    redisFree(c);
    return ok;
}

int rs_startup_locate(struct rs *rs, char *warn, size_t warn_size, struct cp_err *err)
{
    char why[200] = "", first[260] = "";
    const int n = rs->url.n_addrs;
    for (int k = 0; k < n; k++) {
        int i = k;
        char where[RS_HOST_MAX + 16];
        rs_addr_format(&rs->url.addrs[i], where, sizeof where);
        if (rs->url.sentinel) {
            struct rs_addr m;
            if (ask_sentinel(rs, i, &m, why, sizeof why)) {
                rs->sentinel_first = i;
                char ms[RS_HOST_MAX + 16];
                rs_addr_format(&m, ms, sizeof ms);
                if (try_node(rs, &m, warn, warn_size, why, sizeof why) == 0) return 0;
                char tmp[sizeof why];
                snprintf(tmp, sizeof tmp, "%s", why);
                snprintf(why, sizeof why, "master %.80s: %.100s", ms, tmp);
            } else {
                char tmp[sizeof why];
                snprintf(tmp, sizeof tmp, "%s", why);
                snprintf(why, sizeof why, "sentinel %.80s: %.100s", where, tmp);
            }
        } else if (try_node(rs, &rs->url.addrs[i], warn, warn_size, why, sizeof why) == 0) {
            rs->next_seed = (i + 1) % n;
            return 0;
        } else if (n > 1) {
            char tmp[sizeof why];
            snprintf(tmp, sizeof tmp, "%s", why);
            snprintf(why, sizeof why, "%.80s: %.100s", where, tmp);
        }
        if (!first[0]) snprintf(first, sizeof first, "%s", why);
        if (n > 1) rs->host->log(rs->host, CP_LOG_WARN, "redis: start-up: %s", why);
    }
    if (n > 1 && strcmp(first, why) != 0)
        snprintf(err->msg, sizeof(err->msg),
                 "redis: cannot reach Redis at %.80s: %.60s; ...; %.60s", rs->url.display, first,
                 why);
    else
        snprintf(err->msg, sizeof(err->msg), "redis: cannot reach Redis at %.100s: %.110s",
                 rs->url.display, why);
    return CP_ERR_UNAVAILABLE;
}
