/* config_parse.c — the configuration's pure value parsers: durations, counts, booleans, log
 * levels, roles, plugin names and listen addresses. Strict: what is not clearly valid is
 * refused, so a typo stops start-up instead of meaning something else. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <cp/plugin.h>

#include "config.h"
#include "config_internal.h"

#define MAX_SECONDS 315360000 /* ten years: anything longer is a typo */

void cfg_quote(const char *value, char *out, size_t outlen)
{
    size_t o = 0, i = 0;
    if (outlen == 0) return;
    for (; value[i] && o + 1 < outlen && i < 60; i++)
        out[o++] = isprint((unsigned char)value[i]) ? value[i] : '?';
    out[o] = '\0';
    if (value[i] && o + 4 < outlen) memcpy(out + o, "...", 4);
}

int config_role_parse(const char *s)
{
    if (!s) return -1;
    if (strcasecmp(s, "admin") == 0) return ROLE_ADMIN;
    if (strcasecmp(s, "agent") == 0) return ROLE_AGENT;
    if (strcasecmp(s, "reader") == 0) return ROLE_READER;
    return -1;
}

/* Strict: digits with an optional fraction ("30", "0.5", ".5", "2."), nothing else — no sign,
 * exponent, hex, inf or spaces. Rounded to the nearest millisecond. */
int64_t config_parse_seconds(const char *s)
{
    if (!s || !*s) return -1;
    int64_t whole = 0, frac = 0;
    int digits = 0, frac_digits = 0, round_up = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        whole = whole * 10 + (*p - '0');
        if (whole > MAX_SECONDS) return -1;
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, frac_digits++) {
            if (frac_digits < 3)
                frac = frac * 10 + (*p - '0');
            else if (frac_digits == 3)
                round_up = *p >= '5';
        }
    }
    if (*p != '\0' || digits + frac_digits == 0) return -1;
    for (int i = frac_digits; i < 3; i++)
        frac *= 10;
    int64_t ms = whole * 1000 + frac + round_up;
    return ms > (int64_t)MAX_SECONDS * 1000 ? -1 : ms;
}

/* Strict non-negative integer; -1 when not one or above max. */
int cfg_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s) return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max) return -1;
    }
    *out = v;
    return 0;
}

int cfg_parse_bool(const char *s)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) return 1;
        if (strcasecmp(s, no[i]) == 0) return 0;
    }
    return -1;
}

int cfg_parse_log_level(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0) return i;
    return strcasecmp(s, "warning") == 0 ? CP_LOG_WARN : -1;
}

int cfg_bare_name_ok(const char *s)
{
    if (!*s) return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') return 0;
    return 1;
}

/* A plugin spec: a path (contains '/' or ends in ".so") or a bare name. */
int cfg_plugin_spec_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0) return 0;
    if (strchr(s, '/') || (n > 3 && strcmp(s + n - 3, ".so") == 0)) {
        for (const char *p = s; *p; p++)
            if (!isprint((unsigned char)*p)) return 0;
        return 1;
    }
    return cfg_bare_name_ok(s);
}

int cfg_split_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    if (!listen) return -1;
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) return -1;
    const char *h = listen, *hend = colon;
    if (*h == '[') {
        if (hend[-1] != ']' || hend - h < 3) return -1;
        h++;
        hend--;
        for (const char *p = h; p < hend; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.') return -1;
    } else {
        for (const char *p = h; p < hend; p++)
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-') return -1;
    }
    if ((size_t)(hend - h) >= hostlen) return -1;
    uint64_t v;
    if (cfg_parse_uint(colon + 1, 65535, &v) != 0 || v == 0 || strlen(colon + 1) > 5) return -1;
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    *port = (int)v;
    return 0;
}

int cfg_host_is_loopback(const char *host)
{
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0) return 1;
    /* 127.0.0.0/8, written as a dotted quad. */
    if (strncmp(host, "127.", 4) != 0) return 0;
    int dots = 0;
    for (const char *p = host; *p; p++) {
        if (*p == '.')
            dots++;
        else if (!isdigit((unsigned char)*p))
            return 0;
    }
    return dots == 3;
}
