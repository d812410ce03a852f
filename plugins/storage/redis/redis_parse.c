/* redis_parse.c — reading what Redis, Sentinel and Cluster tell the plugin about where the
 * master is: MOVED/ASK redirections, ROLE, SENTINEL get-master-addr-by-name, +switch-master
 * messages, and the cluster hash slot of the prefix's tag.
 *
 * Pure functions over hostile bytes (a reply may come from anything listening on the port):
 * every length is checked, nothing is trusted to be NUL-free or short, and a reply of an
 * unexpected shape is "not understood" (-1), never a crash.
 */
#include <string.h>

#include "redis_int.h"

/* "<digits>" within [s, s+n) as a number <= max, else -1. */
static long parse_uint(const char *s, size_t n, long max)
{
    if (n == 0 || n > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* "host:port" as Redis prints it: no brackets around IPv6, the port after the last ':'.
 * An empty host is allowed (Redis' "unknown endpoint": the caller's current host). */
static int parse_endpoint(const char *s, size_t n, struct rs_addr *out)
{
    memset(out, 0, sizeof(*out));
    const char *colon = NULL;
    for (const char *p = s; p < s + n; p++)
        if (*p == ':') colon = p;
    if (!colon) return -1;
    size_t hl = (size_t)(colon - s);
    long port = parse_uint(colon + 1, (size_t)(s + n - colon - 1), 65535);
    if (port < 1 || hl >= RS_HOST_MAX) return -1;
    for (size_t i = 0; i < hl; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch >= 0x7f || strchr("/,@?#[]", ch)) return -1;
    }
    memcpy(out->host, s, hl);
    out->host[hl] = '\0';
    out->port = (int)port;
    return 0;
}

int rs_parse_redirect(const char *msg, size_t len, int *ask, int *slot, struct rs_addr *to)
{
    size_t skip;
    if (len >= 6 && memcmp(msg, "MOVED ", 6) == 0) {
        *ask = 0;
        skip = 6;
    } else if (len >= 4 && memcmp(msg, "ASK ", 4) == 0) {
        *ask = 1;
        skip = 4;
    } else {
        return -1;
    }
    const char *s = msg + skip, *end = msg + len;
    const char *sp = memchr(s, ' ', (size_t)(end - s));
    if (!sp) return -1;
    long n = parse_uint(s, (size_t)(sp - s), RS_CLUSTER_SLOTS - 1);
    if (n < 0) return -1;
    *slot = (int)n;
    /* The endpoint runs to the end of the message (Redis adds nothing after it). */
    return parse_endpoint(sp + 1, (size_t)(end - sp - 1), to);
}

int rs_parse_role(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1) return RS_ROLE_UNKNOWN;
    const redisReply *e = r->element[0];
    if (!e || (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS))
        return RS_ROLE_UNKNOWN;
    if (e->len == 6 && memcmp(e->str, "master", 6) == 0) return RS_ROLE_MASTER;
    if (e->len == 5 && memcmp(e->str, "slave", 5) == 0) return RS_ROLE_REPLICA;
    if (e->len == 8 && memcmp(e->str, "sentinel", 8) == 0) return RS_ROLE_SENTINEL;
    return RS_ROLE_UNKNOWN;
}

int rs_parse_master_addr(const redisReply *r, struct rs_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (!r || r->type == REDIS_REPLY_NIL) return 0; /* this sentinel does not know the name */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return -1;
    const redisReply *h = r->element[0], *p = r->element[1];
    if (!h || !p || h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_STRING) return -1;
    if (h->len == 0 || h->len >= RS_HOST_MAX || memchr(h->str, '\0', h->len)) return -1;
    for (size_t i = 0; i < h->len; i++) {
        unsigned char ch = (unsigned char)h->str[i];
        if (ch <= ' ' || ch >= 0x7f || strchr("/,@?#[]", ch)) return -1;
    }
    long port = parse_uint(p->str, p->len, 65535);
    if (port < 1) return -1;
    memcpy(out->host, h->str, h->len);
    out->host[h->len] = '\0';
    out->port = (int)port;
    return 1;
}

int rs_parse_switch_master(const char *msg, size_t len, const char *name, struct rs_addr *to)
{
    /* "<master name> <old ip> <old port> <new ip> <new port>" */
    const char *f[5];
    size_t fl[5];
    const char *s = msg, *end = msg + len;
    for (int i = 0; i < 5; i++) {
        const char *sp = memchr(s, ' ', (size_t)(end - s));
        const char *e = i < 4 ? sp : end;
        if (!e || (i == 4 && sp)) return -1;
        f[i] = s;
        fl[i] = (size_t)(e - s);
        if (fl[i] == 0) return -1;
        s = e + (i < 4);
    }
    if (strlen(name) != fl[0] || memcmp(name, f[0], fl[0]) != 0) return 0;
    struct rs_addr a;
    memset(&a, 0, sizeof(a));
    if (fl[3] >= RS_HOST_MAX) return -1;
    for (size_t i = 0; i < fl[3]; i++) {
        unsigned char ch = (unsigned char)f[3][i];
        if (ch <= ' ' || ch >= 0x7f || strchr("/,@?#[]", ch)) return -1;
    }
    long port = parse_uint(f[4], fl[4], 65535);
    if (port < 1) return -1;
    memcpy(a.host, f[3], fl[3]);
    a.port = (int)port;
    *to = a;
    return 1;
}

int rs_parse_selected(const char *msg, size_t len, const char *name, struct rs_addr *master)
{
    /* The part after " @ " is "<master name> <master ip> <master port>", as +switch-master's
     * first three fields: reuse that parser with the same address twice. */
    const char *at = NULL;
    for (size_t i = 0; i + 3 <= len; i++)
        if (memcmp(msg + i, " @ ", 3) == 0) {
            at = msg + i + 3;
            break;
        }
    if (!at) return -1;
    size_t rest = len - (size_t)(at - msg);
    char buf[600];
    if (rest == 0 || 2 * rest + 2 > sizeof(buf)) return -1;
    const char *sp = memchr(at, ' ', rest);
    if (!sp) return -1;
    /* "<name> <ip> <port>" -> "<name> <ip> <port> <ip> <port>" */
    size_t tail = rest - (size_t)(sp - at); /* " <ip> <port>" */
    memcpy(buf, at, rest);
    memcpy(buf + rest, sp, tail);
    return rs_parse_switch_master(buf, rest + tail, name, master);
}

/* CRC16-CCITT (XModem), as Redis Cluster's keyHashSlot uses it. */
static unsigned crc16(const char *buf, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)(unsigned char)buf[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
        crc &= 0xffff;
    }
    return crc;
}

int rs_key_slot(const char *key, size_t len)
{
    /* Only the part between the first '{' and the next '}' counts, when it is not empty. */
    const char *open = memchr(key, '{', len);
    if (open) {
        const char *close = memchr(open + 1, '}', (size_t)(key + len - open - 1));
        if (close && close > open + 1) {
            key = open + 1;
            len = (size_t)(close - open - 1);
        }
    }
    return (int)(crc16(key, len) & (RS_CLUSTER_SLOTS - 1));
}
