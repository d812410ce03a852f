/* tasks_admin.c — `cpctl tasks extend|retry|purge` and `cpctl tasks submit --file`: a held
 * task's lease, the operator's dead letters, and many tasks from a JSONL file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cpctl.h"

#define PAGE 1000 /* tasks per batch request, per listing page */
#define MAX_LINE (8u << 20)

static int bad_option(const char *cmd, char **argv)
{
    return cpctl_usage_error("tasks ", "tasks %s: bad option or missing value '%s'", cmd,
                             argv[optind - 1]);
}

int cpctl_tasks_extend(struct cpctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"agent", required_argument, NULL, 'a'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"percent", required_argument, NULL, 'p'},
                                         {"message", required_argument, NULL, 'm'},
                                         {NULL, 0, NULL, 0}};
    const char *agent = NULL, *message = NULL;
    double seconds = 0, percent = -1;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "a:s:p:m:", opts, NULL)) != -1) {
        if (c == 'a') {
            agent = optarg;
        } else if (c == 's') {
            if (cpctl_parse_seconds("--seconds", optarg, &seconds) < 0) return EXIT_USAGE;
        } else if (c == 'p') {
            if (cpctl_parse_seconds("--percent", optarg, &percent) < 0 || percent > 100)
                return cpctl_usage_error("tasks ", "tasks extend: --percent must be 0..100");
        } else if (c == 'm') {
            message = optarg;
        } else {
            return bad_option("extend", argv);
        }
    }
    if (optind != argc - 1) return cpctl_usage_error("tasks ", "tasks extend takes one TASK_ID");
    int64_t deadline = 0;
    int err = cp_client_task_extend(ctl->client, argv[optind], agent, seconds, percent, message,
                                    &deadline);
    if (err) return cpctl_fail(ctl, err, "tasks extend");
    char when[32];
    if (ctl->json)
        printf("{\"extended\": true, \"task_id\": \"%s\", \"deadline_at_ms\": %lld}\n",
               argv[optind], (long long)deadline);
    else
        printf("extended %s until %s\n", argv[optind], fmt_time(deadline, when, sizeof when));
    return EXIT_OK;
}

/* Every task of `status` (and type) listed at the start, up to `limit` (0: all), retried page
 * by page; a task that fails again meanwhile is not retried twice by one run. */
static int retry_many(struct cpctl *ctl, const char *status, const char *type, unsigned long limit)
{
    uint64_t done = 0, refused = 0, want = 0;
    for (int first = 1;; first = 0) {
        struct cpc_task_query q = {.status = status, .task_type = type, .limit = PAGE};
        struct cpc_task_list *l = NULL;
        int err = cp_client_task_list(ctl->client, &q, &l);
        if (err) return cpctl_fail(ctl, err, "tasks retry");
        if (first) want = limit && limit < l->total ? limit : l->total;
        size_t before = done + refused;
        for (size_t i = 0; i < l->n && done + refused < want; i++) {
            if (cp_client_task_retry(ctl->client, l->tasks[i].id) == CPC_OK) {
                done++;
                if (!ctl->json) printf("%s\n", l->tasks[i].id);
            } else {
                refused++; /* changed meanwhile (claimed, retried by someone else) */
            }
        }
        size_t n = l->n;
        cp_client_task_list_free(l);
        if (n == 0 || done + refused >= want || done + refused == before) break;
    }
    if (ctl->json)
        printf("{\"retried\": %llu}\n", (unsigned long long)done);
    else
        fprintf(stderr, "retried %llu task(s)\n", (unsigned long long)done);
    return EXIT_OK;
}

int cpctl_tasks_retry(struct cpctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"status", required_argument, NULL, 's'},
                                         {"type", required_argument, NULL, 't'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    const char *status = NULL, *type = NULL;
    unsigned long limit = 0;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:t:l:", opts, NULL)) != -1) {
        if (c == 's')
            status = optarg;
        else if (c == 't')
            type = optarg;
        else if (c == 'l') {
            if (cpctl_parse_ulong("--limit", optarg, 1000000000, &limit) < 0) return EXIT_USAGE;
        } else
            return bad_option("retry", argv);
    }
    if (status) {
        if (optind != argc)
            return cpctl_usage_error("tasks ", "tasks retry --status takes no TASK_ID");
        if (strcmp(status, "failed") && strcmp(status, "timeout") && strcmp(status, "cancelled"))
            return cpctl_usage_error("tasks ",
                                     "tasks retry: --status must be failed, timeout or cancelled");
        return retry_many(ctl, status, type, limit);
    }
    if (type || limit || optind != argc - 1)
        return cpctl_usage_error("tasks ", "tasks retry takes one TASK_ID, or --status STATUS");
    int err = cp_client_task_retry(ctl->client, argv[optind]);
    if (err) return cpctl_fail(ctl, err, "tasks retry");
    if (ctl->json)
        printf("{\"retried\": true, \"task_id\": \"%s\"}\n", argv[optind]);
    else
        printf("retried %s\n", argv[optind]);
    return EXIT_OK;
}

int cpctl_tasks_purge(struct cpctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"status", required_argument, NULL, 's'},
                                         {"type", required_argument, NULL, 't'},
                                         {"older-than", required_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    struct cpc_purge_query q = {.limit = PAGE};
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:t:o:", opts, NULL)) != -1) {
        if (c == 's')
            q.status = optarg;
        else if (c == 't')
            q.task_type = optarg;
        else if (c == 'o') {
            if (cpctl_parse_seconds("--older-than", optarg, &q.older_than_seconds) < 0)
                return EXIT_USAGE;
        } else
            return bad_option("purge", argv);
    }
    if (optind != argc)
        return cpctl_usage_error("tasks ", "tasks purge: unexpected '%s'", argv[optind]);
    /* Bounded requests, until the server says none are left. */
    uint64_t total = 0, n = 0;
    int more = 1, err = CPC_OK;
    while (more && (err = cp_client_task_purge(ctl->client, &q, &n, &more)) == CPC_OK)
        total += n;
    if (err) return cpctl_fail(ctl, err, "tasks purge");
    if (ctl->json)
        printf("{\"purged\": %llu}\n", (unsigned long long)total);
    else
        printf("purged %llu task(s)\n", (unsigned long long)total);
    return EXIT_OK;
}

/* ---- submit --file ---- */

/* Lines read and not sent yet: text NULL for a line that is not a JSON object (refused here,
 * reported in its place). */
struct pending_lines {
    char *text[PAGE];
    size_t line[PAGE]; /* line numbers, for the report */
    size_t n;
};

static void lines_free(struct pending_lines *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->text[i]);
    p->n = 0;
}

static void print_item(const struct cpctl *ctl, size_t line, const char *task_id, int created,
                       const char *error, const char *code)
{
    if (ctl->json) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "line", json_object_new_int64((int64_t)line));
        json_object_object_add(o, "task_id", task_id ? json_object_new_string(task_id) : NULL);
        json_object_object_add(o, "created", json_object_new_boolean(created));
        json_object_object_add(o, "error", error ? json_object_new_string(error) : NULL);
        json_object_object_add(o, "code", code ? json_object_new_string(code) : NULL);
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    } else if (task_id) {
        printf("%s\n", task_id);
    } else {
        printf("line %zu: %s (%s)\n", line, error ? error : "refused", code ? code : "?");
    }
}

/* Sends the lines gathered as one batch; prints one result per line, in order. */
static int flush(struct cpctl *ctl, struct pending_lines *p, size_t *refused)
{
    const char *valid[PAGE];
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->text[i]) valid[n++] = p->text[i];
    struct cpc_batch_result *r = NULL;
    if (n) {
        int err = cp_client_task_submit_batch_json(ctl->client, valid, n, &r);
        if (err) return err;
    }
    for (size_t i = 0, k = 0; i < p->n; i++) {
        if (!p->text[i]) {
            (*refused)++;
            print_item(ctl, p->line[i], NULL, 0, "not a JSON object", "invalid_json");
            continue;
        }
        const struct cpc_batch_item *it = &r->items[k++];
        if (!it->task_id) (*refused)++;
        print_item(ctl, p->line[i], it->task_id, it->created, it->error, it->code);
    }
    cp_client_batch_result_free(r);
    lines_free(p);
    return CPC_OK;
}

int cpctl_submit_file(struct cpctl *ctl, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cpctl: tasks submit --file: cannot open %s\n", path);
        return EXIT_USAGE;
    }
    static struct pending_lines p;
    char *buf = NULL;
    size_t cap = 0, lineno = 0, refused = 0, sent = 0;
    ssize_t len;
    int err = CPC_OK, rc = EXIT_OK;
    while (err == CPC_OK && (len = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
            buf[--len] = '\0';
        const char *s = buf + strspn(buf, " \t");
        if (!*s || *s == '#') continue;
        if ((size_t)len > MAX_LINE) {
            fprintf(stderr, "cpctl: %s:%zu: line over %u bytes\n", path, lineno, MAX_LINE);
            rc = EXIT_USAGE;
            break;
        }
        struct json_object *o = json_tokener_parse(s);
        int is_object = o && json_object_is_type(o, json_type_object);
        json_object_put(o);
        p.text[p.n] = is_object ? strdup(s) : NULL;
        if (is_object && !p.text[p.n]) {
            fputs("cpctl: out of memory\n", stderr);
            rc = EXIT_SERVER;
            break;
        }
        p.line[p.n] = lineno;
        p.n++;
        sent++;
        if (p.n == PAGE) err = flush(ctl, &p, &refused);
    }
    if (err == CPC_OK && rc == EXIT_OK) err = flush(ctl, &p, &refused);
    lines_free(&p);
    free(buf);
    if (f != stdin) fclose(f);
    if (err) return cpctl_fail(ctl, err, "tasks submit --file");
    if (rc != EXIT_OK) return rc;
    fprintf(stderr, "submitted %zu of %zu task(s)\n", sent - refused, sent);
    return refused ? EXIT_USAGE : EXIT_OK;
}
