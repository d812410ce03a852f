/* cpctl.h — what cpctl's command files share: the global options, exit codes, error reporting
 * and the table/output helpers. */
#ifndef CPCTL_H
#define CPCTL_H

#include <stddef.h>
#include <stdint.h>

#include "cp/client.h"

/* Exit codes (docs/client.md). */
enum {
    EXIT_OK = 0,
    EXIT_NOT_FOUND = 1, /* 404: unknown agent or task, no agent qualifies */
    EXIT_USAGE = 2,     /* bad arguments, or the server refused them (400, 413, 415) */
    EXIT_SERVER = 3,    /* connection, auth, conflict, storage or other server error */
    EXIT_NOT_DONE = 4,  /* tasks wait: the task ended other than completed, or time ran out */
};

struct cpctl {
    const char *url;
    const char *token;
    long timeout_ms;
    int json; /* --json: print the server's JSON instead of tables */
    cp_client *client;
};

/* A command: argv[0] is its own name; returns an exit code. */
typedef int (*cpctl_cmd_fn)(struct cpctl *ctl, int argc, char **argv);

int cpctl_agents(struct cpctl *ctl, int argc, char **argv);
int cpctl_tasks(struct cpctl *ctl, int argc, char **argv);
/* tasks_admin.c: `tasks extend|retry|purge` (argv[0] is the subcommand), and `tasks submit
 * --file` (a JSONL file of tasks, in batches). */
int cpctl_tasks_extend(struct cpctl *ctl, int argc, char **argv);
int cpctl_tasks_retry(struct cpctl *ctl, int argc, char **argv);
int cpctl_tasks_purge(struct cpctl *ctl, int argc, char **argv);
int cpctl_submit_file(struct cpctl *ctl, const char *path);
int cpctl_health(struct cpctl *ctl, int argc, char **argv);
int cpctl_stats(struct cpctl *ctl, int argc, char **argv);
int cpctl_events(struct cpctl *ctl, int argc, char **argv);
int cpctl_queue(struct cpctl *ctl, int argc, char **argv);
int cpctl_metrics(struct cpctl *ctl, int argc, char **argv);
int cpctl_plugins(struct cpctl *ctl, int argc, char **argv);
int cpctl_quotas(struct cpctl *ctl, int argc, char **argv); /* quotas.c */
int cpctl_tenants(struct cpctl *ctl, int argc, char **argv);

/* Prints "cpctl: <what>: <server message> (<code>)" to stderr and maps err to an exit code. */
int cpctl_fail(struct cpctl *ctl, int err, const char *what);
/* Prints "cpctl: <message>" and a hint to stderr; returns EXIT_USAGE. */
int cpctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 when argv holds -h or --help. */
int cpctl_wants_help(int argc, char **argv);

/* A list option that may repeat and take commas: --capability a --capability b,c. */
#define CPCTL_MAX_LIST 128
struct cpctl_list {
    const char *v[CPCTL_MAX_LIST];
    size_t n;
    char *bufs[CPCTL_MAX_LIST]; /* owned copies the items point into */
    size_t nbufs;
};
/* Adds the comma-separated items of arg; -1 (with a message) when one is empty or there are
 * too many. */
int cpctl_list_add(struct cpctl_list *l, const char *what, const char *arg);
void cpctl_list_free(struct cpctl_list *l);
/* Whole-string number parsing; -1 (with a message naming `what`) when bad or out of range. */
int cpctl_parse_ulong(const char *what, const char *s, unsigned long max, unsigned long *out);
int cpctl_parse_seconds(const char *what, const char *s, double *out);

/* Prints JSON text pretty-printed (or as is when it does not parse), newline-terminated. */
void cpctl_print_json(const char *text);

/* An aligned text table: columns separated by two spaces, a header row in capitals (none when
 * headers is NULL). Exits with EXIT_SERVER when memory runs out. */
struct table;
struct table *table_new(size_t ncols, const char *const *headers);
/* Adds one row of ncols cells (NULL prints "-"); cells are copied. */
void table_row(struct table *t, const char *const *cells);
void table_print(struct table *t);
void table_free(struct table *t);

/* Formatting helpers; each writes into buf and returns it. */
const char *fmt_time(int64_t ms, char *buf, size_t n); /* "2026-11-28 18:06:34" UTC, or "-" */
const char *fmt_u64(uint64_t v, char *buf, size_t n);
const char *fmt_ms(double ms, char *buf, size_t n); /* "12.3" */
/* a, b, c (at most n bytes); "-" when empty. */
const char *fmt_list(char *const *v, size_t count, char *buf, size_t n);

#endif
