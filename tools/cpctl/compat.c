/* compat.c — `cpctl queue [--limit N]` and `cpctl metrics`: the compatibility reads GET /queue
 * and GET /api/control-plane/metrics (the original dashboard's shapes), through
 * cp_client_request; the server's JSON is parsed with json-c and printed as a table. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cpctl.h"

static const char queue_usage[] =
    "usage: cpctl queue [--limit N]\n"
    "\n"
    "  The tasks as the original dashboard's jobs, newest first: id, type, name, status\n"
    "  (queued, running, completed, failed), progress, started_at, agents. --limit 1..1000\n"
    "  (default 50).\n";

static const char metrics_usage[] =
    "usage: cpctl metrics\n"
    "\n"
    "  The original dashboard's counters: active, queued, completed and failed jobs;\n"
    "  available, busy and total agents.\n";

/* The answer of GET path as a json-c object, or NULL with the exit code in *rc. */
static json_object *get_object(struct cpctl *ctl, const char *path, const char *what, int *rc)
{
    char *body = NULL;
    int err = cp_client_request(ctl->client, "GET", path, NULL, 0, &body);
    if (err) {
        *rc = cpctl_fail(ctl, err, what);
        return NULL;
    }
    if (ctl->json) {
        cpctl_print_json(body ? body : "");
        free(body);
        *rc = EXIT_OK;
        return NULL;
    }
    json_object *o = body ? json_tokener_parse(body) : NULL;
    free(body);
    if (!o || !json_object_is_type(o, json_type_object)) {
        fprintf(stderr, "cpctl: %s: the server's answer is not a JSON object\n", what);
        json_object_put(o);
        *rc = EXIT_SERVER;
        return NULL;
    }
    return o;
}

static const char *member_text(json_object *o, const char *key, char *buf, size_t n)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !v) return "-";
    if (json_object_is_type(v, json_type_string)) return json_object_get_string(v);
    snprintf(buf, n, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    return buf;
}

int cpctl_queue(struct cpctl *ctl, int argc, char **argv)
{
    if (cpctl_wants_help(argc, argv)) {
        fputs(queue_usage, stdout);
        return EXIT_OK;
    }
    static const struct option opts[] = {{"limit", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    unsigned long limit = 50;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "l:", opts, NULL)) != -1) {
        if (c != 'l' || cpctl_parse_ulong("--limit", optarg, 1000, &limit) < 0 || limit == 0)
            return cpctl_usage_error("queue ", "queue: --limit N (1..1000) is the only option");
    }
    if (optind < argc) return cpctl_usage_error("queue ", "queue: unexpected '%s'", argv[optind]);
    char path[32];
    snprintf(path, sizeof path, "/queue?limit=%lu", limit);
    int rc = EXIT_OK;
    json_object *o = get_object(ctl, path, "queue", &rc);
    if (!o) return rc;
    json_object *jobs = NULL, *total = NULL;
    json_object_object_get_ex(o, "jobs", &jobs);
    json_object_object_get_ex(o, "total", &total);
    static const char *const headers[] = {"ID",       "TYPE",       "NAME",  "STATUS",
                                          "PROGRESS", "STARTED_AT", "AGENTS"};
    struct table *t = table_new(7, headers);
    size_t n = json_object_is_type(jobs, json_type_array) ? json_object_array_length(jobs) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *j = json_object_array_get_idx(jobs, i);
        char b[7][256];
        const char *cells[7];
        static const char *const keys[] = {"id",       "type",       "name",           "status",
                                           "progress", "started_at", "agents_assigned"};
        for (int k = 0; k < 7; k++)
            cells[k] = member_text(j, keys[k], b[k], sizeof b[k]);
        table_row(t, cells);
    }
    table_print(t);
    table_free(t);
    if (total && (uint64_t)json_object_get_int64(total) > n)
        fprintf(stderr, "(%zu of %lld shown; --limit to see more)\n", n,
                (long long)json_object_get_int64(total));
    json_object_put(o);
    return EXIT_OK;
}

int cpctl_metrics(struct cpctl *ctl, int argc, char **argv)
{
    if (cpctl_wants_help(argc, argv)) {
        fputs(metrics_usage, stdout);
        return EXIT_OK;
    }
    if (argc > 1) return cpctl_usage_error("metrics ", "metrics takes no arguments");
    int rc = EXIT_OK;
    json_object *o = get_object(ctl, "/metrics", "metrics", &rc);
    if (!o) return rc;
    static const char *const keys[] = {"active_jobs", "queued_jobs",      "completed_jobs",
                                       "failed_jobs", "agents_available", "agents_busy",
                                       "total_agents"};
    struct table *t = table_new(2, NULL);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char b[64];
        const char *row[2] = {keys[i], member_text(o, keys[i], b, sizeof b)};
        table_row(t, row);
    }
    table_print(t);
    table_free(t);
    json_object_put(o);
    return EXIT_OK;
}
