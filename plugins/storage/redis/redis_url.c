/* redis_url.c — parsing the plugin's address options: redis://[[user]:password@]host[:port][/db],
 * redis+sentinel://[[user]:password@]host:port[,host:port...]/master_name[/db], and the
 * "host:port[,host:port...]" lists of the `sentinels` and `nodes` options.
 *
 * Everything here is pure (no I/O) and bounded: at most RS_MAX_ADDRS addresses, host names of
 * at most RS_HOST_MAX - 1 bytes, ports 1-65535. Error messages name the url as rs_url.display
 * ("redis://host:port/db"): never the password.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Copies [s, s+n) with %XX decoded; NULL on a bad escape, an escaped NUL or no memory. */
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
            out[j] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            if (!out[j++]) {
                free(out);
                return NULL;
            }
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

/* A port: digits only, 1-65535; -1 otherwise. */
static int parse_port(const char *s, size_t n)
{
    if (n == 0 || n > 5) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535 ? (int)v : -1;
}

/* A host name or address: printable, no spaces, slashes, commas or '@'. */
static int host_ok(const char *s, size_t n)
{
    if (n == 0 || n >= RS_HOST_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch >= 0x7f || strchr("/,@?#[]", ch)) return 0;
    }
    return 1;
}

int rs_addr_parse(const char *s, size_t n, int default_port, struct rs_addr *out)
{
    memset(out, 0, sizeof(*out));
    const char *hs = s, *he;
    const char *port = NULL;
    size_t port_len = 0;
    if (n > 0 && s[0] == '[') { /* [ipv6]:port */
        const char *rb = memchr(s, ']', n);
        if (!rb) return -1;
        hs = s + 1;
        he = rb;
        if (rb + 1 < s + n) {
            if (rb[1] != ':') return -1;
            port = rb + 2;
            port_len = (size_t)(s + n - port);
        }
        if (he - hs == 0 || (size_t)(he - hs) >= RS_HOST_MAX) return -1;
        for (const char *p = hs; p < he; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.') return -1;
    } else {
        const char *colon = NULL;
        for (const char *p = s; p < s + n; p++)
            if (*p == ':') {
                if (colon) return -1; /* a bare IPv6 address needs brackets */
                colon = p;
            }
        he = colon ? colon : s + n;
        if (colon) {
            port = colon + 1;
            port_len = (size_t)(s + n - port);
        }
        if (!host_ok(hs, (size_t)(he - hs))) return -1;
    }
    out->port = port ? parse_port(port, port_len) : default_port;
    if (out->port < 0 || (!port && default_port <= 0)) return -1;
    memcpy(out->host, hs, (size_t)(he - hs));
    out->host[he - hs] = '\0';
    return 0;
}

int rs_addr_list_parse(const char *s, size_t n, int default_port, struct rs_addr *out, int max,
                       int *count)
{
    const char *end = s + n;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma ? comma : end;
        const char *a = s, *b = item_end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (*count >= max) return -1;
        if (rs_addr_parse(a, (size_t)(b - a), default_port, &out[*count]) != 0) return -1;
        ++*count;
        s = comma ? comma + 1 : end;
        if (comma && s == end) return -1; /* trailing comma */
    }
    return 0;
}

void rs_addr_format(const struct rs_addr *a, char *buf, size_t size)
{
    int v6 = strchr(a->host, ':') != NULL;
    snprintf(buf, size, "%s%s%s:%d", v6 ? "[" : "", a->host, v6 ? "]" : "", a->port);
}

void rs_url_free(struct rs_url *u)
{
    free(u->user);
    free(u->master_name);
    if (u->password) {
        memset(u->password, 0, strlen(u->password));
        free(u->password);
    }
    if (u->sentinel_password) {
        memset(u->sentinel_password, 0, strlen(u->sentinel_password));
        free(u->sentinel_password);
    }
    memset(u, 0, sizeof(*u));
}

static int parse_fail(struct rs_url *u, struct cp_err *err, const char *why)
{
    rs_url_free(u);
    snprintf(err->msg, sizeof(err->msg),
             "redis: bad url (%s): expected redis://[[user]:password@]host[:port][/db] or "
             "redis+sentinel://[[user]:password@]host:port[,host:port...]/master_name[/db]",
             why);
    return CP_ERR_INVALID;
}

/* A database number: 0-1000000, digits only. */
static int parse_db(const char *s, size_t n)
{
    if (n == 0 || n > 7) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 1000000 ? (int)v : -1;
}

/* A Sentinel master name: what redis.conf's `sentinel monitor` accepts that is safe in a log. */
static int master_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-:", s[i])) return 0;
    return 1;
}

void rs_url_update_display(struct rs_url *u)
{
    char list[200];
    size_t off = 0;
    list[0] = '\0';
    for (int i = 0; i < u->n_addrs && (!u->sentinel ? i < 1 : 1); i++) {
        char a[RS_HOST_MAX + 16];
        rs_addr_format(&u->addrs[i], a, sizeof a);
        int w = snprintf(list + off, sizeof list - off, "%s%s", i ? "," : "", a);
        if (w < 0 || (size_t)w >= sizeof list - off) {
            snprintf(list + (off < sizeof list - 4 ? off : sizeof list - 4), 4, "...");
            break;
        }
        off += (size_t)w;
    }
    if (u->sentinel)
        snprintf(u->display, sizeof(u->display), "redis+sentinel://%s%s%s/%s/%d",
                 u->user ? u->user : "", u->user ? "@" : "", list,
                 u->master_name ? u->master_name : "", u->db);
    else
        snprintf(u->display, sizeof(u->display), "redis://%s%s%s/%d", u->user ? u->user : "",
                 u->user ? "@" : "", list, u->db);
}

int rs_url_parse(const char *text, struct rs_url *u, struct cp_err *err)
{
    memset(u, 0, sizeof(*u));
    static const char scheme[] = "redis://", sscheme[] = "redis+sentinel://";
    const char *p;
    if (text && strncmp(text, scheme, sizeof(scheme) - 1) == 0) {
        p = text + sizeof(scheme) - 1;
    } else if (text && strncmp(text, sscheme, sizeof(sscheme) - 1) == 0) {
        p = text + sizeof(sscheme) - 1;
        u->sentinel = 1;
    } else {
        return parse_fail(u, err, "it must start with redis:// or redis+sentinel://");
    }
    if (strlen(p) > 4096) return parse_fail(u, err, "longer than 4096 bytes");
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
    if (p == end) return parse_fail(u, err, "empty host");
    if (u->sentinel) {
        if (rs_addr_list_parse(p, (size_t)(end - p), 26379, u->addrs, RS_MAX_ADDRS, &u->n_addrs) !=
            0)
            return parse_fail(u, err, "each sentinel must be host:port (at most 16)");
    } else {
        if (rs_addr_parse(p, (size_t)(end - p), 6379, &u->addrs[0]) != 0)
            return parse_fail(u, err, "bad host or port (1-65535; [::1] for IPv6)");
        u->n_addrs = 1;
    }
    /* The path: /db (redis://) or /master_name[/db] (redis+sentinel://). */
    if (*end && *end != '/')
        return parse_fail(u, err, "query strings and fragments are not supported");
    const char *path = *end == '/' ? end + 1 : end;
    const char *path_end = path + strlen(path);
    if (strpbrk(path, "?#"))
        return parse_fail(u, err, "query strings and fragments are not supported");
    if (u->sentinel) {
        const char *slash = memchr(path, '/', (size_t)(path_end - path));
        const char *name_end = slash ? slash : path_end;
        if (!master_name_ok(path, (size_t)(name_end - path)))
            return parse_fail(u, err, "the path must be /master_name[/db]");
        if (!(u->master_name = strndup(path, (size_t)(name_end - path))))
            return parse_fail(u, err, "out of memory");
        path = slash ? slash + 1 : path_end;
    }
    if (path < path_end) {
        if (path_end[-1] == '/') path_end--; /* one trailing slash */
        int db = parse_db(path, (size_t)(path_end - path));
        if (db < 0) return parse_fail(u, err, "the database must be a number 0-1000000");
        u->db = db;
    }
    rs_url_update_display(u);
    return 0;
}

int rs_url_add_option_addrs(struct rs_url *u, const char *what, const char *list,
                            struct cp_err *err)
{
    int default_port = u->sentinel ? 26379 : 6379;
    if (rs_addr_list_parse(list, strlen(list), default_port, u->addrs, RS_MAX_ADDRS, &u->n_addrs) !=
        0) {
        snprintf(err->msg, sizeof(err->msg),
                 "redis: %s \"%.100s\": expected host:port entries ([::1]:port for IPv6), "
                 "at most %d addresses in all",
                 what, list, RS_MAX_ADDRS);
        return CP_ERR_INVALID;
    }
    rs_url_update_display(u);
    return 0;
}
