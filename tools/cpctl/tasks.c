/* tasks.c — `cpctl tasks submit|get|wait|cancel|list`: the task queue. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpctl.h"

static const char tasks_usage[] =
    "usage: cpctl tasks submit TASK_TYPE [--payload JSON] [--capability CAP]...\n"
    "                   [--priority critical|high|normal|low] [--timeout SECONDS]\n"
    "                   [--max-retries N] [--metadata JSON] [--strategy NAME]\n"
    "       cpctl tasks get TASK_ID\n"
    "       cpctl tasks wait TASK_ID [--timeout SECONDS]\n"
    "       cpctl tasks cancel TASK_ID\n"
    "       cpctl tasks list [--status STATUS] [--type TASK_TYPE] [--limit N]\n"
    "\n"
    "  submit   queue a task; prints its id\n"
    "  get      one task in full\n"
    "  wait     block until the task ends (or --timeout passes; default: no limit) and print\n"
    "           it; exit 0 when it completed, 4 when it failed, was cancelled, timed out or\n"
    "           is still running at the deadline\n"
    "  cancel   cancel a pending, claimed or running task\n"
    "  list     newest first; --status pending|claimed|running|completed|failed|cancelled|\n"
    "           timeout; --limit 1..1000 (default 50)\n";

static int bad_option(const char *cmd, char **argv)
{
    return cpctl_usage_error("tasks ", "tasks %s: bad option or missing value '%s'", cmd,
                             argv[optind - 1]);
}

static void print_task_detail(const struct cpc_task *t)
{
    char b[8][256];
    struct table *tb = table_new(2, NULL);
    const char *const rows[][2] = {
        {"id", t->id},
        {"task_type", t->task_type},
        {"status", cp_task_status_name(t->status)},
        {"priority", cp_priority_name(t->priority)},
        {"required_capabilities",
         fmt_list(t->required_capabilities, t->n_required, b[0], sizeof b[0])},
        {"assigned_agent", t->assigned_agent},
        {"attempt", fmt_u64(t->attempt, b[1], sizeof b[1])},
        {"retries", (snprintf(b[2], sizeof b[2], "%u/%u", t->retries, t->max_retries), b[2])},
        {"timeout_seconds", (snprintf(b[3], sizeof b[3], "%g", t->timeout_seconds), b[3])},
        {"created_at", fmt_time(t->created_at_ms, b[4], sizeof b[4])},
        {"claimed_at", fmt_time(t->claimed_at_ms, b[5], sizeof b[5])},
        {"started_at", fmt_time(t->started_at_ms, b[6], sizeof b[6])},
        {"completed_at", fmt_time(t->completed_at_ms, b[7], sizeof b[7])},
        {"payload", t->payload_json},
        {"result", t->result_json},
        {"error", t->error},
        {"metadata", t->metadata_json},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        table_row(tb, rows[i]);
    table_print(tb);
    table_free(tb);
}

static int cmd_submit(struct cpctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"payload", required_argument, NULL, 'p'},     {"capability", required_argument, NULL, 'c'},
        {"priority", required_argument, NULL, 'P'},    {"timeout", required_argument, NULL, 't'},
        {"max-retries", required_argument, NULL, 'r'}, {"metadata", required_argument, NULL, 'm'},
        {"strategy", required_argument, NULL, 's'},    {NULL, 0, NULL, 0}};
    struct cpctl_list caps = {0};
    struct cpc_task_spec s = {0};
    unsigned long retries;
    int c, rc = EXIT_OK;
    optind = 0;
    opterr = 0;
    while (rc == EXIT_OK && (c = getopt_long(argc, argv, "p:c:P:t:r:m:s:", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            s.payload_json = optarg;
            break;
        case 'c':
            rc = cpctl_list_add(&caps, "--capability", optarg) < 0 ? EXIT_USAGE : rc;
            break;
        case 'P':
            s.priority = optarg;
            break;
        case 't':
            if (cpctl_parse_seconds("--timeout", optarg, &s.timeout_seconds) < 0 ||
                s.timeout_seconds == 0)
                rc = cpctl_usage_error("tasks ", "tasks submit: --timeout must be > 0");
            break;
        case 'r':
            if (cpctl_parse_ulong("--max-retries", optarg, 1000000, &retries) < 0) rc = EXIT_USAGE;
            s.has_max_retries = 1;
            s.max_retries = (uint32_t)retries;
            break;
        case 'm':
            s.metadata_json = optarg;
            break;
        case 's':
            s.strategy = optarg;
            break;
        default:
            rc = bad_option("submit", argv);
        }
    }
    if (rc == EXIT_OK && optind != argc - 1)
        rc = cpctl_usage_error("tasks ", "tasks submit takes one TASK_TYPE");
    if (rc != EXIT_OK) {
        cpctl_list_free(&caps);
        return rc;
    }
    s.task_type = argv[optind];
    s.required_capabilities = caps.v;
    s.n_required = caps.n;
    char *id = NULL;
    int err = cp_client_task_submit(ctl->client, &s, &id);
    cpctl_list_free(&caps);
    if (err) return cpctl_fail(ctl, err, "tasks submit");
    if (ctl->json)
        printf("{\"task_id\": \"%s\"}\n", id);
    else
        printf("%s\n", id);
    free(id);
    return EXIT_OK;
}

/* Commands taking one TASK_ID and no options. */
static int one_id(int argc, char **argv, const char *cmd, const char **id)
{
    if (argc != 2 || argv[1][0] == '-')
        return cpctl_usage_error("tasks ", "tasks %s takes one TASK_ID", cmd);
    *id = argv[1];
    return EXIT_OK;
}

static int cmd_get(struct cpctl *ctl, int argc, char **argv)
{
    const char *id = NULL;
    int rc = one_id(argc, argv, "get", &id);
    if (rc) return rc;
    struct cpc_task *t = NULL;
    int err = cp_client_task_get(ctl->client, id, &t);
    if (err) return cpctl_fail(ctl, err, "tasks get");
    if (ctl->json)
        cpctl_print_json(t->json);
    else
        print_task_detail(t);
    cp_client_task_free(t);
    return EXIT_OK;
}

static int cmd_wait(struct cpctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"timeout", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    double secs = -1;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
        if (c != 't') return bad_option("wait", argv);
        if (cpctl_parse_seconds("--timeout", optarg, &secs) < 0) return EXIT_USAGE;
    }
    if (optind != argc - 1) return cpctl_usage_error("tasks ", "tasks wait takes one TASK_ID");
    struct cpc_task *t = NULL;
    long ms = secs < 0 ? -1 : (long)(secs * 1000);
    int err = cp_client_task_wait(ctl->client, argv[optind], ms, &t);
    if (err && !(err == CPC_ERR_TIMEOUT && t)) return cpctl_fail(ctl, err, "tasks wait");
    if (ctl->json)
        cpctl_print_json(t->json);
    else
        print_task_detail(t);
    int rc = t->status == CP_TASK_COMPLETED ? EXIT_OK : EXIT_NOT_DONE;
    if (err) fprintf(stderr, "cpctl: tasks wait: %s\n", cp_client_last_message(ctl->client));
    cp_client_task_free(t);
    return rc;
}

static int cmd_cancel(struct cpctl *ctl, int argc, char **argv)
{
    const char *id = NULL;
    int rc = one_id(argc, argv, "cancel", &id);
    if (rc) return rc;
    int err = cp_client_task_cancel(ctl->client, id);
    if (err) return cpctl_fail(ctl, err, "tasks cancel");
    if (ctl->json)
        printf("{\"cancelled\": true, \"task_id\": \"%s\"}\n", id);
    else
        printf("cancelled %s\n", id);
    return EXIT_OK;
}

static int cmd_list(struct cpctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"status", required_argument, NULL, 's'},
                                         {"type", required_argument, NULL, 't'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    struct cpc_task_query q = {0};
    unsigned long limit;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:t:l:", opts, NULL)) != -1) {
        if (c == 's')
            q.status = optarg;
        else if (c == 't')
            q.task_type = optarg;
        else if (c == 'l') {
            if (cpctl_parse_ulong("--limit", optarg, 1000, &limit) < 0 || limit == 0)
                return cpctl_usage_error("tasks ", "tasks list: --limit must be 1..1000");
            q.limit = (uint32_t)limit;
        } else
            return bad_option("list", argv);
    }
    if (optind < argc)
        return cpctl_usage_error("tasks ", "tasks list: unexpected '%s'", argv[optind]);
    struct cpc_task_list *l = NULL;
    int err = cp_client_task_list(ctl->client, &q, &l);
    if (err) return cpctl_fail(ctl, err, "tasks list");
    if (ctl->json) {
        cpctl_print_json(l->json);
    } else {
        static const char *const headers[] = {"ID",    "TYPE",    "STATUS",  "PRIORITY",
                                              "AGENT", "ATTEMPT", "RETRIES", "CREATED"};
        struct table *tb = table_new(8, headers);
        for (size_t i = 0; i < l->n; i++) {
            const struct cpc_task *t = &l->tasks[i];
            char att[24], ret[48], created[32];
            snprintf(ret, sizeof ret, "%u/%u", t->retries, t->max_retries);
            const char *cells[8] = {t->id,
                                    t->task_type,
                                    cp_task_status_name(t->status),
                                    cp_priority_name(t->priority),
                                    t->assigned_agent,
                                    fmt_u64(t->attempt, att, sizeof att),
                                    ret,
                                    fmt_time(t->created_at_ms, created, sizeof created)};
            table_row(tb, cells);
        }
        table_print(tb);
        table_free(tb);
        if (l->total > l->n)
            fprintf(stderr, "(%zu of %llu shown; --limit to see more)\n", l->n,
                    (unsigned long long)l->total);
    }
    cp_client_task_list_free(l);
    return EXIT_OK;
}

int cpctl_tasks(struct cpctl *ctl, int argc, char **argv)
{
    if (argc < 2 || cpctl_wants_help(argc, argv)) {
        fputs(tasks_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "submit") == 0) return cmd_submit(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "get") == 0) return cmd_get(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "wait") == 0) return cmd_wait(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "cancel") == 0) return cmd_cancel(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0)
        return cmd_list(ctl, argc - 1, argv + 1);
    return cpctl_usage_error("tasks ", "unknown tasks command '%s'", sub);
}
