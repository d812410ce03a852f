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
        if (a->cap == 0) { /* the first argument: the vector's own slots */
            a->argv = a->argv_small;
            a->lens = a->lens_small;
            a->cap = RS_ARGS_SMALL;
        } else {
            int cap = a->cap * 2;
            int small = a->argv == a->argv_small;
            const char **argv = realloc(small ? NULL : a->argv, (size_t)cap * sizeof(*argv));
            if (argv) {
                if (small) memcpy(argv, a->argv_small, sizeof a->argv_small);
                a->argv = argv;
            }
            size_t *lens =
                argv ? realloc(small ? NULL : a->lens, (size_t)cap * sizeof(*lens)) : NULL;
            if (lens) {
                if (small) memcpy(lens, a->lens_small, sizeof a->lens_small);
                a->lens = lens;
            }
            if (!argv || !lens) {
                /* argv may be new while lens is still the vector's own: args_free tells */
                a->oom = 1;
                return;
            }
            a->cap = cap;
        }
    }
    a->argv[a->argc] = s;
    a->lens[a->argc++] = len;
}

char *args_own(struct rs_args *a, size_t size)
{
    if (a->oom) return NULL;
    if (size <= sizeof a->pool - a->pool_used) { /* small: from the vector's own bytes */
        char *p = a->pool + a->pool_used;
        a->pool_used += size;
        return p;
    }
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

/* Decimal digits written by hand: snprintf's cost showed in every operation's profile. */
void args_i64(struct rs_args *a, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) tmp[n++] = '-';
    char *p = args_own(a, n);
    if (!p) return;
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    args_add(a, p, n);
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
    if (a->argv != a->argv_small) free(a->argv);
    if (a->lens != a->lens_small) free(a->lens);
}
