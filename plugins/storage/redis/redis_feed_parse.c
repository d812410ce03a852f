/* redis_feed_parse.c — a change feed message (common.lua, change()) to struct cp_change
 * records: pure and bounded, since the bytes come from Redis (tests/test_redis_feed_parse.c).
 * A message is "<number of the first change>\n" then one line per change
 *   "<kind> <at> <agent> <task> <type> <old> <new> <old circuit> <new circuit> <attempt> <pr>"
 * with "~" for no id; a quota change (CP_CHANGE_QUOTA_*, lua/quota.lua) has the quota id in the
 * task's place, its concurrency limit in the attempt's and a 12th field: its pause's end. It is
 * checked whole before anything is handed over: every field present,
 * numbers within range, ids of the host's identifier characters (1-128 of A-Z a-z 0-9 . _ : @
 * / -), kinds above CP_CHANGE_GAP (the host skips kinds it does not know). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

#define RS_FEED_MAX_MESSAGE (8u << 20) /* larger messages are refused (the caller: a gap) */
#define RS_FEED_FIELDS 11
#define RS_FEED_QUOTA_FIELDS 12
#define RS_ID_MAX 128

static int valid_id(const char *s, size_t n)
{
    if (n == 0 || n > RS_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._:@/-", c)))
            return 0;
    }
    return 1;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!*s) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* One line "<kind> <at> <agent> <task> <type> <old> <new> <oc> <nc> <attempt> <pr>" (cut in
 * place) into *c; its strings point into the line. */
static int parse_line(char *line, struct cp_change *c)
{
    char *f[RS_FEED_QUOTA_FIELDS];
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == RS_FEED_QUOTA_FIELDS) return -1; /* a field too many */
        f[n++] = p;
        char *sp = strchr(p, ' ');
        if (!sp) break;
        *sp = '\0';
        p = sp + 1;
    }
    if (n != RS_FEED_FIELDS && n != RS_FEED_QUOTA_FIELDS) return -1;
    int64_t v[RS_FEED_QUOTA_FIELDS];
    static const int numeric[] = {0, 1, 5, 6, 7, 8, 9, 10};
    for (size_t i = 0; i < sizeof numeric / sizeof *numeric; i++) {
        int k = numeric[i];
        /* at: a time; attempt: a count; the rest: enum values or -1 */
        int64_t lo = k == 1 || k == 9 ? 0 : -1, hi = k == 1   ? INT64_MAX
                                                     : k == 9 ? UINT32_MAX
                                                              : 1000;
        if (parse_i64(f[k], lo, hi, &v[k]) < 0) return -1;
    }
    const char **ids[3] = {&c->agent_id, &c->task_id, &c->task_type};
    for (int i = 0; i < 3; i++) {
        const char *s = f[2 + i];
        if (strcmp(s, "~") == 0) {
            *ids[i] = NULL;
        } else if (valid_id(s, strlen(s))) {
            *ids[i] = s;
        } else {
            return -1;
        }
    }
    if (v[0] <= CP_CHANGE_GAP) return -1; /* a gap is never published */
    int quota = v[0] >= CP_CHANGE_QUOTA_PAUSED && v[0] <= CP_CHANGE_QUOTA_CONCURRENCY;
    if (quota != (n == RS_FEED_QUOTA_FIELDS)) return -1;
    if (quota) {
        if (!c->task_id || parse_i64(f[11], 0, INT64_MAX, &v[11]) < 0) return -1;
        c->quota_id = c->task_id;
        c->task_id = NULL;
        c->quota_until_ms = v[11];
        c->quota_limit = (uint32_t)v[9];
        v[9] = 0;
    }
    c->size = sizeof *c;
    c->kind = (int32_t)v[0];
    c->at_ms = v[1];
    c->old_status = (int32_t)v[5];
    c->new_status = (int32_t)v[6];
    c->old_circuit = (int32_t)v[7];
    c->new_circuit = (int32_t)v[8];
    c->attempt = (uint32_t)v[9];
    c->priority = (int32_t)v[10];
    return 0;
}

int rs_feed_parse(const char *msg, size_t len, rs_feed_cb cb, void *arg)
{
    if (len == 0 || len > RS_FEED_MAX_MESSAGE || memchr(msg, '\0', len)) return -1;
    char *buf = malloc(len + 1);
    if (!buf) return -1;
    memcpy(buf, msg, len);
    buf[len] = '\0';
    /* Checked whole first: a malformed message hands over nothing. */
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++)
        n_lines += buf[i] == '\n';
    struct cp_change *v = n_lines ? calloc(n_lines, sizeof *v) : NULL;
    int64_t first;
    char *nl = strchr(buf, '\n');
    int rc = -1;
    if (!v || !nl) goto out;
    *nl = '\0';
    if (parse_i64(buf, 1, INT64_MAX - (int64_t)n_lines, &first) < 0) goto out;
    char *line = nl + 1;
    for (size_t i = 0; i < n_lines; i++) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        if (parse_line(line, &v[i]) < 0) goto out;
        v[i].seq = (uint64_t)first + i;
        line = end ? end + 1 : line + strlen(line);
    }
    for (size_t i = 0; i < n_lines; i++)
        cb(arg, &v[i]);
    rc = 0;
out:
    free(v);
    free(buf);
    return rc;
}
