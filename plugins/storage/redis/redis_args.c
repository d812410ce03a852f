/* redis_args.c — argument vectors for one Redis command: borrowed strings, owned formatted
 * numbers and optional strings ("" = NULL, "=" + value), capability lists checked as storage.h
 * requires. Out of memory and invalid arguments are remembered and reported by op_start(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

void args_add(struct rs_args *a, const char *s, size_t len)
{
    if (a->oom) return;
    if (a->argc == a->cap) {
        int cap = a->cap ? a->cap * 2 : 32;
        const char **argv = realloc(a->argv, (size_t)cap * sizeof(*argv));
        if (argv) a->argv = argv;
        size_t *lens = realloc(a->lens, (size_t)cap * sizeof(*lens));
        if (lens) a->lens = lens;
        if (!argv || !lens) {
            a->oom = 1;
            return;
        }
        a->cap = cap;
    }
    a->argv[a->argc] = s;
    a->lens[a->argc++] = len;
}

char *args_own(struct rs_args *a, size_t size)
{
    if (a->oom) return NULL;
    if (a->n_owned == a->cap_owned) {
        int cap = a->cap_owned ? a->cap_owned * 2 : 16;
        char **owned = realloc(a->owned, (size_t)cap * sizeof(*owned));
        if (!owned) {
            a->oom = 1;
            return NULL;
        }
        a->owned = owned;
        a->cap_owned = cap;
    }
    char *p = malloc(size);
    if (!p) {
        a->oom = 1;
        return NULL;
    }
    a->owned[a->n_owned++] = p;
    return p;
}

void args_str(struct rs_args *a, const char *s)
{
    if (!s) {
        a->invalid = "a required string is NULL";
        s = "";
    }
    args_add(a, s, strlen(s));
}

void args_opt(struct rs_args *a, const char *s)
{
    if (!s) {
        args_add(a, "", 0);
        return;
    }
    size_t n = strlen(s);
    char *p = args_own(a, n + 2);
    if (!p) return;
    p[0] = '=';
    memcpy(p + 1, s, n + 1);
    args_add(a, p, n + 1);
}

void args_i64(struct rs_args *a, int64_t v)
{
    char *p = args_own(a, 24);
    if (!p) return;
    args_add(a, p, (size_t)snprintf(p, 24, "%lld", (long long)v));
}

void args_f64(struct rs_args *a, double v)
{
    char *p = args_own(a, 32);
    if (!p) return;
    args_add(a, p, (size_t)snprintf(p, 32, "%.17g", v));
}

/* 1 when the names are non-empty, sorted ascending (strcmp) and unique, as storage.h requires,
 * and free of "\n" (Redis stores a set as each name followed by "\n"). */
int rs_caps_valid(const char *const *names, uint32_t n)
{
    if (n && !names) return 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!names[i] || !names[i][0] || strchr(names[i], '\n')) return 0;
        if (i > 0 && strcmp(names[i - 1], names[i]) >= 0) return 0;
    }
    return 1;
}

void args_names(struct rs_args *a, const char *const *names, uint32_t n)
{
    if (!rs_caps_valid(names, n)) {
        a->invalid = "capabilities must be sorted and unique";
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        args_str(a, names[i]);
}

void args_free(struct rs_args *a)
{
    for (int i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->argv);
    free(a->lens);
}
