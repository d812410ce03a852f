/* tasks.c — `cpctl tasks submit|get|wait|cancel|list`: the task queue. The lease and the
 * operator's commands (extend, retry, purge) are tasks_admin.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpctl.h"

static const char tasks_usage[] =
    "usage: cpctl tasks submit TASK_TYPE [--payload JSON] [--capability CAP]...\n"
    "                   [--priority critical|high|normal|low] [--timeout SECONDS]\n"
    "                   [--max-retries N] [--metadata JSON] [--strategy NAME]\n"
    "                   [--delay SECONDS | --run-at TIME] [--idempotency-key KEY]\n"
    "                   [--backoff none|fixed|exponential] [--backoff-seconds S]\n"
    "                   [--backoff-max S] [--backoff-jitter] [--tenant TENANT]\n"
    "                   [--affinity-key KEY [--affinity-ttl SECONDS]]\n"
    "       cpctl tasks submit --file TASKS.jsonl\n"
    "       cpctl tasks get TASK_ID\n"
    "       cpctl tasks wait TASK_ID [--timeout SECONDS]\n"
    "       cpctl tasks cancel TASK_ID\n"
    "       cpctl tasks list [--status STATUS] [--type TASK_TYPE] [--limit N]\n"
    "       cpctl tasks extend TASK_ID [--agent AGENT_ID] [--seconds S] [--percent P]\n"
    "                   [--message TEXT]\n"
    "       cpctl tasks retry TASK_ID\n"
    "       cpctl tasks retry --status failed|timeout|cancelled [--type TASK_TYPE] [--limit N]\n"
    "       cpctl tasks purge [--status STATUS] [--type TASK_TYPE] [--older-than SECONDS]\n"
    "\n"
    "  submit   queue a task; prints its id. --delay or --run-at (ISO 8601, e.g.\n"
    "           2026-11-28T18:00:00Z) make it claimable later; --backoff sets how long a\n"
    "           failed attempt waits before the next. A submit is retried after a 503 or a\n"
    "           lost connection with the same idempotency key (generated unless given), so\n"
    "           it is never stored twice. --file: one task per line as POST /tasks takes it\n"
    "           (JSON; blank lines and lines starting with # skipped), sent in batches of\n"
    "           1000; prints each line's id or error; exit 2 when any line was refused.\n"
    "           --affinity-key: a conversation or debate id; the `affinity` strategy sends\n"
    "           the task to the agent that completed that key last (docs/fleet.md)\n"
    "  get      one task in full\n"
    "  wait     block until the task ends (or --timeout passes; default: no limit) and print\n"
    "           it; exit 0 when it completed, 4 when it failed, was cancelled, timed out or\n"
    "           is still running at the deadline\n"
    "  cancel   cancel a pending, claimed or running task\n"
    "  list     newest first; --status pending|claimed|running|completed|failed|cancelled|\n"
    "           timeout; --limit 1..1000 (default 50)\n"
    "  extend   keep a held task's lease: its deadline moves to now + --seconds (default: its\n"
    "           timeout); --percent and --message report progress\n"
    "  retry    send a failed, timed-out or cancelled task back to pending (retries reset,\n"
    "           attempts kept); with --status, every such task (of --type), at most --limit\n"
    "  purge    delete finished tasks (every one, or of --status completed|failed|cancelled|\n"
    "           timeout, --type) that ended --older-than seconds ago (default 0); prints how\n"
    "           many\n";

static int bad_option(const char *cmd, char **argv)
{
    return cpctl_usage_error("tasks ", "tasks %s: bad option or missing value '%s'", cmd,
                             argv[optind - 1]);
}

static void print_task_detail(const struct cpc_task *t)
{
    char b[12][256];
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
        {"deadline_at", fmt_time(t->deadline_at_ms, b[8], sizeof b[8])},
        {"not_before", fmt_time(t->not_before_ms, b[9], sizeof b[9])},
        {"progress", t->progress_json},
        {"idempotency_key", t->idempotency_key},
        {"tenant", t->tenant},
        {"payload", t->payload_json},
        {"result", t->result_json},
        {"error", t->error},
        {"metadata", t->metadata_json},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        table_row(tb, rows[i]);
    for (size_t i = 0; i < t->n_attempts; i++) {
        const struct cpc_attempt *a = &t->attempts[i];
        char label[32], when[2][32];
        snprintf(label, sizeof label, "attempt %zu", i + 1);
        snprintf(b[10], sizeof b[10], "%s  %s .. %s  %s%s%s", a->agent_id ? a->agent_id : "?",
                 fmt_time(a->started_at_ms, when[0], sizeof when[0]),
                 a->ended_at_ms ? fmt_time(a->ended_at_ms, when[1], sizeof when[1]) : "now",
                 a->outcome >= 0 ? cp_attempt_outcome_name(a->outcome) : "in progress",
                 a->error ? ": " : "", a->error ? a->error : "");
        const char *row[2] = {label, b[10]};
        table_row(tb, row);
    }
    table_print(tb);
    table_free(tb);
}

static int cmd_submit(struct cpctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"payload", required_argument, NULL, 'p'},
                                         {"capability", required_argument, NULL, 'c'},
                                         {"priority", required_argument, NULL, 'P'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"max-retries", required_argument, NULL, 'r'},
                                         {"metadata", required_argument, NULL, 'm'},
                                         {"strategy", required_argument, NULL, 's'},
                                         {"delay", required_argument, NULL, 'd'},
                                         {"run-at", required_argument, NULL, 'a'},
                                         {"idempotency-key", required_argument, NULL, 'k'},
                                         {"backoff", required_argument, NULL, 'b'},
                                         {"backoff-seconds", required_argument, NULL, 'B'},
                                         {"backoff-max", required_argument, NULL, 'M'},
                                         {"backoff-jitter", no_argument, NULL, 'j'},
                                         {"file", required_argument, NULL, 'f'},
                                         {"tenant", required_argument, NULL, 'T'},
                                         {"affinity-key", required_argument, NULL, 'A'},
                                         {"affinity-ttl", required_argument, NULL, 'L'},
                                         {NULL, 0, NULL, 0}};
    struct cpctl_list caps = {0};
    struct cpc_task_spec s = {0};
    struct cpc_task_options o = {0};
    struct cpc_task_affinity aff = {0};
    const char *file = NULL;
    unsigned long retries;
    int c, rc = EXIT_OK, others = 0;
    optind = 0;
    opterr = 0;
    while (rc == EXIT_OK &&
           (c = getopt_long(argc, argv, "p:c:P:t:r:m:s:d:a:k:b:B:M:jf:T:A:L:", opts, NULL)) != -1) {
        others += c != 'f';
        switch (c) {
        case 'd':
            if (cpctl_parse_seconds("--delay", optarg, &o.delay_seconds) < 0) rc = EXIT_USAGE;
            break;
        case 'a':
            o.run_at = optarg;
            break;
        case 'k':
            o.idempotency_key = optarg;
            break;
        case 'T':
            o.tenant = optarg;
            break;
        case 'b':
            o.backoff_type = optarg;
            break;
        case 'B':
            if (cpctl_parse_seconds("--backoff-seconds", optarg, &o.backoff_seconds) < 0)
                rc = EXIT_USAGE;
            break;
        case 'M':
            if (cpctl_parse_seconds("--backoff-max", optarg, &o.backoff_max_seconds) < 0)
                rc = EXIT_USAGE;
            break;
        case 'j':
            o.backoff_jitter = 1;
            break;
        case 'f':
            file = optarg;
            break;
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
        case 'A':
            aff.key = optarg;
            break;
        case 'L':
            if (cpctl_parse_seconds("--affinity-ttl", optarg, &aff.ttl_seconds) < 0 ||
                aff.ttl_seconds == 0)
                rc = cpctl_usage_error("tasks ", "tasks submit: --affinity-ttl must be > 0");
            break;
        default:
            rc = bad_option("submit", argv);
        }
    }
    if (rc == EXIT_OK && file && (optind != argc || others))
        rc = cpctl_usage_error("tasks ", "tasks submit --file takes no TASK_TYPE or options");
    if (rc == EXIT_OK && file) return cpctl_submit_file(ctl, file);
    if (rc == EXIT_OK && optind != argc - 1)
        rc = cpctl_usage_error("tasks ", "tasks submit takes one TASK_TYPE");
    if (rc == EXIT_OK && (o.backoff_seconds > 0 || o.backoff_max_seconds > 0 || o.backoff_jitter) &&
        !o.backoff_type)
        rc = cpctl_usage_error("tasks ", "tasks submit: --backoff-* need --backoff TYPE");
    if (rc == EXIT_OK && aff.ttl_seconds > 0 && !aff.key)
        rc = cpctl_usage_error("tasks ", "tasks submit: --affinity-ttl needs --affinity-key");
    if (rc != EXIT_OK) {
        cpctl_list_free(&caps);
        return rc;
    }
    s.task_type = argv[optind];
    s.required_capabilities = caps.v;
    s.n_required = caps.n;
    char *id = NULL;
    int created = 0;
    int err =
        cp_client_task_submit_affinity(ctl->client, &s, &o, aff.key ? &aff : NULL, &id, &created);
    cpctl_list_free(&caps);
    if (err) return cpctl_fail(ctl, err, "tasks submit");
    if (ctl->json)
        printf("{\"task_id\": \"%s\", \"created\": %s}\n", id, created ? "true" : "false");
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
    if (strcmp(sub, "extend") == 0) return cpctl_tasks_extend(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "retry") == 0) return cpctl_tasks_retry(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "purge") == 0) return cpctl_tasks_purge(ctl, argc - 1, argv + 1);
    return cpctl_usage_error("tasks ", "unknown tasks command '%s'", sub);
}
