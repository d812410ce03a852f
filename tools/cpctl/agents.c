/* agents.c — `cpctl agents list|get|rm|select|drain|undrain`: the agent registry. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpctl.h"

static const char agents_usage[] =
    "usage: cpctl agents list [--capability CAP]... [--all] [--status STATUS]\n"
    "                         [--limit N [--after AGENT_ID]]\n"
    "       cpctl agents get AGENT_ID\n"
    "       cpctl agents rm AGENT_ID\n"
    "       cpctl agents drain AGENT_ID\n"
    "       cpctl agents undrain AGENT_ID\n"
    "       cpctl agents select [--capability CAP]... [--strategy NAME] [--exclude ID,...]\n"
    "                           [--hint KEY=VALUE]...\n"
    "\n"
    "  list     agents that could take work now; --all: every agent, offline ones too;\n"
    "           --capability (repeat or comma-separate): agents having all of them;\n"
    "           --status: starting|ready|busy|draining|offline|failed;\n"
    "           every match is read in pages of 500; --limit: one page of at most N\n"
    "           agents (after AGENT_ID: the previous page's next), then \"next: ID\"\n"
    "           when there are more\n"
    "  get      one agent in full\n"
    "  rm       unregister an agent (its in-flight tasks return to pending)\n"
    "  drain    no new tasks for the agent; it finishes those it holds and reads draining\n"
    "           until undrained, whatever its heartbeats say (admin token)\n"
    "  undrain  end a drain: the agent returns to the status it reported last\n"
    "  select   the agent a strategy would pick (least_loaded, round_robin, random or a\n"
    "           plugin's name); --hint passes hint.KEY=VALUE to it (e.g. --hint region=eu\n"
    "           for a strategy that matches agents' metadata); exit 1 when none qualifies\n";

static const char *const list_headers[] = {"AGENT_ID",  "STATUS",      "HEALTH", "CIRCUIT",
                                           "IN_FLIGHT", "DONE",        "FAILED", "AVG_MS",
                                           "MODEL",     "CAPABILITIES"};
#define LIST_COLS (sizeof list_headers / sizeof list_headers[0])

static void agent_row(struct table *t, const struct cpc_agent *a)
{
    char inflight[48], done[24], failed[24], avg[32], caps[256];
    snprintf(inflight, sizeof inflight, "%u/%u", a->tasks_in_flight, a->max_concurrent_tasks);
    const char *cells[LIST_COLS] = {
        a->agent_id,
        cp_agent_status_name(a->status),
        cp_health_name(a->health),
        cp_circuit_name(a->circuit),
        inflight,
        fmt_u64(a->tasks_completed, done, sizeof done),
        fmt_u64(a->tasks_failed, failed, sizeof failed),
        fmt_ms(a->avg_latency_ms, avg, sizeof avg),
        a->model,
        fmt_list(a->capabilities, a->n_capabilities, caps, sizeof caps),
    };
    table_row(t, cells);
}

static void print_agent_table(const struct cpc_agent *const *v, size_t n)
{
    struct table *t = table_new(LIST_COLS, list_headers);
    for (size_t i = 0; i < n; i++)
        agent_row(t, v[i]);
    table_print(t);
    table_free(t);
}

static void kv(struct table *t, const char *k, const char *v)
{
    const char *cells[2] = {k, v};
    table_row(t, cells);
}

static void print_agent_detail(const struct cpc_agent *a)
{
    char b[8][256];
    struct table *t = table_new(2, NULL);
    kv(t, "agent_id", a->agent_id);
    kv(t, "status", cp_agent_status_name(a->status));
    kv(t, "health", cp_health_name(a->health));
    kv(t, "circuit", cp_circuit_name(a->circuit));
    kv(t, "capabilities", fmt_list(a->capabilities, a->n_capabilities, b[0], sizeof b[0]));
    kv(t, "model", a->model);
    kv(t, "provider", a->provider);
    kv(t, "metadata", a->metadata_json);
    kv(t, "health_probe", a->health_probe_json);
    kv(t, "registered_at", fmt_time(a->registered_at_ms, b[1], sizeof b[1]));
    kv(t, "last_heartbeat", fmt_time(a->last_heartbeat_ms, b[2], sizeof b[2]));
    snprintf(b[3], sizeof b[3], "%u/%u", a->tasks_in_flight, a->max_concurrent_tasks);
    kv(t, "tasks_in_flight", b[3]);
    kv(t, "current_task_id", a->current_task_id);
    kv(t, "tasks_completed", fmt_u64(a->tasks_completed, b[4], sizeof b[4]));
    kv(t, "tasks_failed", fmt_u64(a->tasks_failed, b[5], sizeof b[5]));
    kv(t, "avg_latency_ms", fmt_ms(a->avg_latency_ms, b[6], sizeof b[6]));
    kv(t, "drained_at", fmt_time(a->drained_at_ms, b[7], sizeof b[7]));
    table_print(t);
    table_free(t);
}

static int cmd_list(struct cpctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"capability", required_argument, NULL, 'c'}, {"all", no_argument, NULL, 'a'},
        {"status", required_argument, NULL, 's'},     {"limit", required_argument, NULL, 'l'},
        {"after", required_argument, NULL, 'f'},      {NULL, 0, NULL, 0}};
    struct cpctl_list caps = {0};
    struct cpc_agent_query q = {0};
    unsigned long limit = 0;
    const char *after = NULL;
    int c, rc = EXIT_OK;
    optind = 0;
    opterr = 0;
    while (rc == EXIT_OK && (c = getopt_long(argc, argv, "c:as:l:f:", opts, NULL)) != -1) {
        if (c == 'c')
            rc = cpctl_list_add(&caps, "--capability", optarg) < 0 ? EXIT_USAGE : rc;
        else if (c == 'a')
            q.all = 1;
        else if (c == 's')
            q.status = optarg;
        else if (c == 'l')
            rc = cpctl_parse_ulong("--limit", optarg, 100000, &limit) < 0 ? EXIT_USAGE
                 : limit == 0
                     ? cpctl_usage_error("agents ", "agents list: --limit must be 1..100000")
                     : rc;
        else if (c == 'f')
            after = optarg;
        else
            rc = cpctl_usage_error("agents ", "agents list: bad option or missing value '%s'",
                                   argv[optind - 1]);
    }
    if (rc == EXIT_OK && optind < argc)
        rc = cpctl_usage_error("agents ", "agents list: unexpected '%s'", argv[optind]);
    if (rc == EXIT_OK && after && !limit)
        rc = cpctl_usage_error("agents ", "agents list: --after goes with --limit");
    if (rc != EXIT_OK) {
        cpctl_list_free(&caps);
        return rc;
    }
    q.capabilities = caps.v;
    q.n_capabilities = caps.n;
    struct cpc_agent_list *l = NULL;
    int err = limit ? cp_client_agent_page(ctl->client, &q, (uint32_t)limit, after, &l)
                    : cp_client_agent_list(ctl->client, &q, &l);
    cpctl_list_free(&caps);
    if (err) return cpctl_fail(ctl, err, "agents list");
    if (ctl->json) {
        cpctl_print_json(l->json);
    } else {
        const struct cpc_agent **v = calloc(l->n ? l->n : 1, sizeof *v); /* fleets are large */
        if (!v) {
            cp_client_agent_list_free(l);
            return cpctl_fail(ctl, CPC_ERR_NOMEM, "agents list");
        }
        for (size_t i = 0; i < l->n; i++)
            v[i] = &l->agents[i];
        print_agent_table(v, l->n);
        free(v);
        if (l->next) printf("next: %s\n", l->next);
    }
    cp_client_agent_list_free(l);
    return EXIT_OK;
}

/* get / rm: exactly one AGENT_ID. */
static int one_id(int argc, char **argv, const char *cmd, const char **id)
{
    if (argc != 2 || argv[1][0] == '-')
        return cpctl_usage_error("agents ", "agents %s takes one AGENT_ID", cmd);
    *id = argv[1];
    return EXIT_OK;
}

static int cmd_get(struct cpctl *ctl, int argc, char **argv)
{
    const char *id = NULL;
    int rc = one_id(argc, argv, "get", &id);
    if (rc) return rc;
    struct cpc_agent *a = NULL;
    int err = cp_client_agent_get(ctl->client, id, &a);
    if (err) return cpctl_fail(ctl, err, "agents get");
    if (ctl->json)
        cpctl_print_json(a->json);
    else
        print_agent_detail(a);
    cp_client_agent_free(a);
    return EXIT_OK;
}

static int cmd_rm(struct cpctl *ctl, int argc, char **argv)
{
    const char *id = NULL;
    int rc = one_id(argc, argv, "rm", &id);
    if (rc) return rc;
    int err = cp_client_agent_unregister(ctl->client, id);
    if (err) return cpctl_fail(ctl, err, "agents rm");
    if (ctl->json)
        printf("{\"unregistered\": true, \"agent_id\": \"%s\"}\n", id);
    else
        printf("unregistered %s\n", id);
    return EXIT_OK;
}

#define MAX_HINTS 16

/* --hint KEY=VALUE: split in place (argv is ours). */
static int add_hint(struct cpc_select_query *q, const char **keys, const char **values, char *arg)
{
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return cpctl_usage_error("agents ", "agents select: --hint wants KEY=VALUE, not '%s'", arg);
    if (q->n_hints >= MAX_HINTS)
        return cpctl_usage_error("agents ", "agents select: at most %d --hint", MAX_HINTS);
    *eq = '\0';
    keys[q->n_hints] = arg;
    values[q->n_hints++] = eq + 1;
    return EXIT_OK;
}

/* drain / undrain: the agent after, as `get` prints it. */
static int cmd_drain(struct cpctl *ctl, int argc, char **argv, int on)
{
    const char *id = NULL;
    const char *name = on ? "drain" : "undrain";
    int rc = one_id(argc, argv, name, &id);
    if (rc) return rc;
    struct cpc_agent *a = NULL;
    int err = on ? cp_client_agent_drain(ctl->client, id, &a)
                 : cp_client_agent_undrain(ctl->client, id, &a);
    if (err) return cpctl_fail(ctl, err, on ? "agents drain" : "agents undrain");
    if (ctl->json)
        cpctl_print_json(a->json);
    else
        print_agent_detail(a);
    cp_client_agent_free(a);
    return EXIT_OK;
}

static int cmd_select(struct cpctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"capability", required_argument, NULL, 'c'},
                                         {"strategy", required_argument, NULL, 's'},
                                         {"exclude", required_argument, NULL, 'x'},
                                         {"hint", required_argument, NULL, 'H'},
                                         {NULL, 0, NULL, 0}};
    struct cpctl_list caps = {0}, ex = {0};
    const char *hint_keys[MAX_HINTS], *hint_values[MAX_HINTS];
    struct cpc_select_query q = {.hint_keys = hint_keys, .hint_values = hint_values};
    int c, rc = EXIT_OK;
    optind = 0;
    opterr = 0;
    while (rc == EXIT_OK && (c = getopt_long(argc, argv, "c:s:x:H:", opts, NULL)) != -1) {
        if (c == 'c')
            rc = cpctl_list_add(&caps, "--capability", optarg) < 0 ? EXIT_USAGE : rc;
        else if (c == 'x')
            rc = cpctl_list_add(&ex, "--exclude", optarg) < 0 ? EXIT_USAGE : rc;
        else if (c == 'H')
            rc = add_hint(&q, hint_keys, hint_values, optarg);
        else if (c == 's')
            q.strategy = optarg;
        else
            rc = cpctl_usage_error("agents ", "agents select: bad option or missing value '%s'",
                                   argv[optind - 1]);
    }
    if (rc == EXIT_OK && optind < argc)
        rc = cpctl_usage_error("agents ", "agents select: unexpected '%s'", argv[optind]);
    if (rc == EXIT_OK) {
        q.capabilities = caps.v;
        q.n_capabilities = caps.n;
        q.exclude = ex.v;
        q.n_exclude = ex.n;
        struct cpc_agent *a = NULL;
        int err = cp_client_agent_select(ctl->client, &q, &a);
        if (err) {
            rc = cpctl_fail(ctl, err, "agents select");
        } else {
            if (ctl->json)
                cpctl_print_json(a->json);
            else
                print_agent_table((const struct cpc_agent *const[]){a}, 1);
            cp_client_agent_free(a);
        }
    }
    cpctl_list_free(&caps);
    cpctl_list_free(&ex);
    return rc;
}

int cpctl_agents(struct cpctl *ctl, int argc, char **argv)
{
    if (argc < 2 || cpctl_wants_help(argc, argv)) {
        fputs(agents_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0)
        return cmd_list(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "get") == 0) return cmd_get(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "rm") == 0) return cmd_rm(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "select") == 0) return cmd_select(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "drain") == 0) return cmd_drain(ctl, argc - 1, argv + 1, 1);
    if (strcmp(sub, "undrain") == 0) return cmd_drain(ctl, argc - 1, argv + 1, 0);
    return cpctl_usage_error("agents ", "unknown agents command '%s'", sub);
}
