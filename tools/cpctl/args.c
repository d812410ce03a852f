/* args.c — cpctl's argument parsing helpers: repeatable comma-separated list options and
 * strict number parsing (the whole string, in range, or a message naming the option). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpctl.h"

int cpctl_list_add(struct cpctl_list *l, const char *what, const char *arg)
{
    if (l->nbufs == CPCTL_MAX_LIST) {
        fprintf(stderr, "cpctl: too many %s options\n", what);
        return -1;
    }
    char *copy = strdup(arg);
    if (!copy) {
        fputs("cpctl: out of memory\n", stderr);
        return -1;
    }
    l->bufs[l->nbufs++] = copy;
    char *save = NULL;
    size_t items = 0;
    for (char *p = copy;; p = NULL) {
        char *item = strtok_r(p, ",", &save);
        if (!item) break;
        if (l->n == CPCTL_MAX_LIST) {
            fprintf(stderr, "cpctl: more than %d %s values\n", CPCTL_MAX_LIST, what);
            return -1;
        }
        l->v[l->n++] = item;
        items++;
    }
    /* strtok_r skips empty items; "a,,b" or "" is a mistake worth reporting. */
    if (!items || strstr(arg, ",,") || arg[0] == ',' || arg[strlen(arg) - 1] == ',') {
        fprintf(stderr, "cpctl: %s '%s' has an empty item\n", what, arg);
        return -1;
    }
    return 0;
}

void cpctl_list_free(struct cpctl_list *l)
{
    for (size_t i = 0; i < l->nbufs; i++)
        free(l->bufs[i]);
    l->nbufs = l->n = 0;
}

int cpctl_parse_ulong(const char *what, const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || v > max) {
        fprintf(stderr, "cpctl: %s: '%s' is not a whole number in 0..%lu\n", what, s, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cpctl_parse_seconds(const char *what, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < 0) {
        fprintf(stderr, "cpctl: %s: '%s' is not a number of seconds\n", what, s);
        return -1;
    }
    *out = v;
    return 0;
}
