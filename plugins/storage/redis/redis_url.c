/* redis_url.c — parsing redis://[[user]:password@]host[:port][/db] and the blocking start-up
 * check that tells create() whether Redis can be reached at all.
 *
 * Error messages name the url as rs_url.display ("redis://host:port/db"): never the password.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cp/time.h>

#include "redis_int.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Copies [s, s+n) with %XX decoded; NULL on a bad escape or no memory. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n || hexval((unsigned char)s[i + 1]) < 0 ||
                hexval((unsigned char)s[i + 2]) < 0) {
                free(out);
                return NULL;
            }
            out[j++] =
                (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

void rs_url_free(struct rs_url *u)
{
    free(u->host);
    free(u->user);
    if (u->password) {
        memset(u->password, 0, strlen(u->password));
        free(u->password);
    }
    memset(u, 0, sizeof(*u));
}

static int parse_fail(struct rs_url *u, struct cp_err *err, const char *why)
{
    rs_url_free(u);
    snprintf(err->msg, sizeof(err->msg),
             "redis: bad url (%s): expected redis://[:password@]host[:port][/db]", why);
    return CP_ERR_INVALID;
}

int rs_url_parse(const char *text, struct rs_url *u, struct cp_err *err)
{
    memset(u, 0, sizeof(*u));
    u->port = 6379;
    static const char scheme[] = "redis://";
    if (!text || strncmp(text, scheme, sizeof(scheme) - 1) != 0)
        return parse_fail(u, err, "it must start with redis://");
    const char *p = text + sizeof(scheme) - 1;
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@') at = q; /* the last @: passwords may contain one when not escaped */
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) return parse_fail(u, err, "user info without ':password'");
        if (colon > p && !(u->user = pct_decode(p, (size_t)(colon - p))))
            return parse_fail(u, err, "bad %-escape in the user");
        if (!(u->password = pct_decode(colon + 1, (size_t)(at - colon - 1))))
            return parse_fail(u, err, "bad %-escape in the password");
        p = at + 1;
    }
    const char *hend;
    if (*p == '[') { /* [ipv6] */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) return parse_fail(u, err, "unclosed '['");
        u->host = strndup(p + 1, (size_t)(rb - p - 1));
        hend = rb + 1;
    } else {
        hend = p;
        while (hend < end && *hend != ':')
            hend++;
        u->host = strndup(p, (size_t)(hend - p));
    }
    if (!u->host) return parse_fail(u, err, "out of memory");
    if (!u->host[0]) return parse_fail(u, err, "empty host");
    if (hend < end) {
        if (*hend != ':') return parse_fail(u, err, "junk after the host");
        char *num_end;
        long port = strtol(hend + 1, &num_end, 10);
        if (num_end == hend + 1 || num_end != end || port < 1 || port > 65535)
            return parse_fail(u, err, "port must be 1-65535");
        u->port = (int)port;
    }
    if (*end == '/' && end[1]) {
        char *num_end;
        long db = strtol(end + 1, &num_end, 10);
        if (!isdigit((unsigned char)end[1]) || *num_end || db < 0 || db > 1000000)
            return parse_fail(u, err, "the path must be a database number");
        u->db = (int)db;
    } else if (*end && !(*end == '/' && !end[1])) {
        return parse_fail(u, err, "query strings and fragments are not supported");
    }
    int v6 = strchr(u->host, ':') != NULL;
    snprintf(u->display, sizeof(u->display), "redis://%s%s%s%s%s:%d/%d", u->user ? u->user : "",
             u->user ? "@" : "", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, u->db);
    return 0;
}

/* Why a command got no reply, into err. A reply that does not come within the socket timeout
 * shows up as EAGAIN ("Resource temporarily unavailable" in hiredis 0.14): say "no reply
 * within N ms" instead, which is what happened. Reads errno: call right after the command. */
static void sync_failed_msg(redisContext *c, const struct rs_url *u, int timeout_ms,
                            struct cp_err *err, const char *what)
{
    int e = errno;
    if (c->err == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT))
        snprintf(err->msg, sizeof(err->msg),
                 "redis: cannot reach Redis at %.100s: no reply to %.40s within %d ms", u->display,
                 what, timeout_ms);
    else
        snprintf(err->msg, sizeof(err->msg),
                 "redis: cannot reach Redis at %.100s: %.40s failed: %.60s", u->display, what,
                 c->errstr[0] ? c->errstr : "connection lost");
}

static int sync_cmd_failed(redisContext *c, const struct rs_url *u, int timeout_ms,
                           struct cp_err *err, const char *what)
{
    sync_failed_msg(c, u, timeout_ms, err, what);
    redisFree(c);
    return CP_ERR_UNAVAILABLE;
}

/* Runs one command; returns the reply (caller frees) or NULL with err filled. */
static redisReply *sync_cmd(redisContext *c, const struct rs_url *u, int timeout_ms,
                            struct cp_err *err, const char *what, int argc, const char **argv,
                            const size_t *lens)
{
    errno = 0;
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) {
        sync_failed_msg(c, u, timeout_ms, err, what);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err->msg, sizeof(err->msg), "redis: Redis at %.100s refused %.40s: %.60s",
                 u->display, what, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

int rs_sync_check(const struct rs_url *u, int timeout_ms, char shas[][41], int *functions,
                  struct cp_err *err)
{
    struct timeval tv = cp_ms_to_timeval(timeout_ms);
    redisContext *c = redisConnectWithTimeout(u->host, u->port, tv);
    if (!c || c->err) {
        snprintf(err->msg, sizeof(err->msg), "redis: cannot reach Redis at %.100s: %.100s",
                 u->display, c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return CP_ERR_UNAVAILABLE;
    }
    redisSetTimeout(c, tv);
    redisReply *r;
    if (u->password) {
        const char *argv[3] = {"AUTH", u->user ? u->user : u->password, u->password};
        int argc = u->user ? 3 : 2;
        if (!(r = sync_cmd(c, u, timeout_ms, err, "AUTH", argc, argv, NULL))) goto fail;
        freeReplyObject(r);
    }
    if (u->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", u->db);
        const char *argv[2] = {"SELECT", db};
        if (!(r = sync_cmd(c, u, timeout_ms, err, "SELECT", 2, argv, NULL))) goto fail;
        freeReplyObject(r);
    }
    const char *ping[1] = {"PING"};
    if (!(r = sync_cmd(c, u, timeout_ms, err, "PING", 1, ping, NULL))) goto fail;
    freeReplyObject(r);
    if (*functions) {
        /* An error reply (unknown command before Redis 7, NOPERM) means: use the scripts. */
        const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", rs_library};
        size_t lens[4] = {8, 4, 7, rs_library_len};
        errno = 0;
        if (!(r = redisCommandArgv(c, 4, argv, lens)))
            return sync_cmd_failed(c, u, timeout_ms, err, "FUNCTION LOAD");
        *functions = r->type != REDIS_REPLY_ERROR;
        if (!*functions) /* why, for the caller's warning (not a failure: scripts follow) */
            snprintf(err->msg, sizeof(err->msg), "%.200s", r->str ? r->str : "");
        freeReplyObject(r);
        if (*functions) {
            redisFree(c);
            return 0;
        }
    }
    for (int i = 0; i < RS_SCRIPT_COUNT; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", rs_scripts[i].text};
        size_t lens[3] = {6, 4, rs_scripts[i].len};
        char what[64];
        snprintf(what, sizeof(what), "SCRIPT LOAD of %s.lua", rs_scripts[i].name);
        if (!(r = sync_cmd(c, u, timeout_ms, err, what, 3, argv, lens))) goto fail;
        if (r->type != REDIS_REPLY_STRING || r->len != 40) {
            snprintf(err->msg, sizeof(err->msg), "redis: SCRIPT LOAD of %.40s at %.100s: bad reply",
                     rs_scripts[i].name, u->display);
            freeReplyObject(r);
            goto fail;
        }
        memcpy(shas[i], r->str, 40);
        shas[i][40] = '\0';
        freeReplyObject(r);
    }
    redisFree(c);
    return 0;
fail:
    redisFree(c);
    return CP_ERR_UNAVAILABLE;
}
