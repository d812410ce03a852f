/* table.c — cpctl's output: aligned text tables, value formatting, pretty JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cpctl.h"

struct table {
    size_t ncols, nrows, cap;
    char **cells; /* nrows x ncols, row 0 = headers */
    size_t *width;
};

static void oom(void)
{
    fputs("cpctl: out of memory\n", stderr);
    exit(EXIT_SERVER);
}

struct table *table_new(size_t ncols, const char *const *headers)
{
    struct table *t = calloc(1, sizeof *t);
    if (!t || !(t->width = calloc(ncols, sizeof *t->width))) oom();
    t->ncols = ncols;
    if (headers) table_row(t, headers);
    return t;
}

void table_row(struct table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        char **c = realloc(t->cells, t->cap * t->ncols * sizeof *c);
        if (!c) oom();
        t->cells = c;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = cells[i] ? cells[i] : "-";
        char *d = strdup(s);
        if (!d) oom();
        /* Control characters from the server would break the alignment (and the terminal). */
        for (char *p = d; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
        t->cells[t->nrows * t->ncols + i] = d;
        size_t w = strlen(d);
        if (w > t->width[i]) t->width[i] = w;
    }
    t->nrows++;
}

void table_print(struct table *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        char *const *row = t->cells + r * t->ncols;
        size_t last = t->ncols; /* no padding after the last non-empty cell */
        while (last > 1 && !*row[last - 1])
            last--;
        for (size_t i = 0; i < last; i++) {
            if (i + 1 == last)
                printf("%s\n", row[i]);
            else
                printf("%-*s  ", (int)t->width[i], row[i]);
        }
    }
}

void table_free(struct table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->width);
    free(t);
}

const char *fmt_time(int64_t ms, char *buf, size_t n)
{
    if (ms <= 0) {
        snprintf(buf, n, "-");
        return buf;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm)) snprintf(buf, n, "-");
    return buf;
}

const char *fmt_u64(uint64_t v, char *buf, size_t n)
{
    snprintf(buf, n, "%" PRIu64, v);
    return buf;
}

const char *fmt_ms(double ms, char *buf, size_t n)
{
    snprintf(buf, n, "%.1f", ms);
    return buf;
}

const char *fmt_list(char *const *v, size_t count, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && len + 1 < n; i++) {
        int w = snprintf(buf + len, n - len, "%s%s", i ? "," : "", v[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    if (len >= n && n > 4) memcpy(buf + n - 4, "...", 4);
    if (!buf[0]) snprintf(buf, n, "-");
    return buf;
}

void cpctl_print_json(const char *text)
{
    struct json_object *o = json_tokener_parse(text);
    if (!o) {
        printf("%s\n", text);
        return;
    }
    printf("%s\n",
           json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}
