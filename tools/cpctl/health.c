/* health.c — `cpctl health [AGENT]` and `cpctl stats`: health, circuits and counters. */
#include <stdio.h>
#include <string.h>

#include "cpctl.h"

static const char health_usage[] =
    "usage: cpctl health [--all | --summary] [AGENT_ID]\n"
    "\n"
    "  Without AGENT_ID: the system status, the agents' counts by health, and the agents'\n"
    "  health and circuit breakers: every agent for a fleet of up to 1000 agents, else the\n"
    "  degraded and unhealthy ones (the server's summary, at most 100 of them);\n"
    "  --all: every agent (read in pages of 500); --summary: the summary whatever the size.\n"
    "  With AGENT_ID: that agent's health in full (exit 1 when unknown).\n";

static const char stats_usage[] =
    "usage: cpctl stats\n"
    "\n"
    "  Registry (agents by status, capability, provider), scheduler (tasks by status,\n"
    "  priority, type) and health counters.\n";

static const char *latency(double ms, char *buf, size_t n)
{
    if (ms < 0) return "-";
    return fmt_ms(ms, buf, n);
}

static void print_health_detail(const struct cpc_health *h)
{
    char b[7][64];
    snprintf(b[0], sizeof b[0], "%u", h->consecutive_failures);
    snprintf(b[1], sizeof b[1], "%u", h->consecutive_successes);
    snprintf(b[2], sizeof b[2], "%u", h->circuit_failures);
    const char *const rows[][2] = {
        {"agent_id", h->agent_id},
        {"status", cp_health_name(h->status)},
        {"probe", h->probe},
        {"last_check", fmt_time(h->last_check_ms, b[3], sizeof b[3])},
        {"consecutive_failures", b[0]},
        {"consecutive_successes", b[1]},
        {"latency_ms", latency(h->latency_ms, b[4], sizeof b[4])},
        {"error", h->error},
        {"circuit", cp_circuit_name(h->circuit)},
        {"circuit_failures", b[2]},
        {"circuit_opened_at", fmt_time(h->circuit_opened_at_ms, b[5], sizeof b[5])},
        {"circuit_retry_at", fmt_time(h->circuit_retry_at_ms, b[6], sizeof b[6])},
    };
    struct table *t = table_new(2, NULL);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        table_row(t, rows[i]);
    table_print(t);
    table_free(t);
}

int cpctl_health(struct cpctl *ctl, int argc, char **argv)
{
    if (cpctl_wants_help(argc, argv)) {
        fputs(health_usage, stdout);
        return EXIT_OK;
    }
    int all = 0, summary = 0;
    while (argc > 1 && (!strcmp(argv[1], "--all") || !strcmp(argv[1], "--summary"))) {
        all |= !strcmp(argv[1], "--all");
        summary |= !strcmp(argv[1], "--summary");
        argc--, argv++;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
        return cpctl_usage_error("health ", "health takes at most one AGENT_ID");
    if ((all && summary) || ((all || summary) && argc == 2))
        return cpctl_usage_error("health ", "health: --all or --summary, without an AGENT_ID");
    if (argc == 2) {
        struct cpc_health *h = NULL;
        int err = cp_client_agent_health(ctl->client, argv[1], &h);
        if (err) return cpctl_fail(ctl, err, "health");
        if (ctl->json)
            cpctl_print_json(h->json);
        else
            print_health_detail(h);
        cp_client_health_free(h);
        return EXIT_OK;
    }
    struct cpc_system_health *sh = NULL;
    struct cpc_health_query q = {.agents = summary ? "summary" : NULL};
    int err =
        all ? cp_client_health_all(ctl->client, &sh) : cp_client_health_query(ctl->client, &q, &sh);
    if (err) return cpctl_fail(ctl, err, "health");
    if (ctl->json) {
        cpctl_print_json(sh->json);
    } else {
        const uint64_t *h = sh->by_health;
        printf("system: %s (%llu agents: %llu healthy, %llu degraded, %llu unhealthy, %llu "
               "unknown)\n",
               cp_health_name(sh->status), (unsigned long long)sh->agents_total,
               (unsigned long long)h[CP_HEALTH_HEALTHY], (unsigned long long)h[CP_HEALTH_DEGRADED],
               (unsigned long long)h[CP_HEALTH_UNHEALTHY],
               (unsigned long long)h[CP_HEALTH_UNKNOWN]);
        if (!sh->full)
            printf("degraded and unhealthy agents%s:\n",
                   sh->next ? " (the first of them; --all lists every agent)" : "");
        putchar('\n');
        static const char *const headers[] = {"AGENT_ID", "HEALTH", "PROBE",      "FAILURES",
                                              "CIRCUIT",  "LAT_MS", "LAST_CHECK", "ERROR"};
        struct table *t = table_new(8, headers);
        for (size_t i = 0; i < sh->n_agents; i++) {
            const struct cpc_health *h = &sh->agents[i];
            char fails[16], lat[32], when[32];
            snprintf(fails, sizeof fails, "%u", h->consecutive_failures);
            const char *cells[8] = {h->agent_id,
                                    cp_health_name(h->status),
                                    h->probe,
                                    fails,
                                    cp_circuit_name(h->circuit),
                                    latency(h->latency_ms, lat, sizeof lat),
                                    fmt_time(h->last_check_ms, when, sizeof when),
                                    h->error};
            table_row(t, cells);
        }
        table_print(t);
        table_free(t);
    }
    cp_client_system_health_free(sh);
    return EXIT_OK;
}

/* "name=n name=n ..." of an enum's counters. */
static const char *enum_line(const uint64_t *v, const char *const *names, int count, char *buf,
                             size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && len < n; i++) {
        int w = snprintf(buf + len, n - len, "%s%s=%llu", i ? " " : "", names[i],
                         (unsigned long long)v[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    return buf;
}

static const char *count_line(const struct cpc_count *v, size_t count, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && len < n; i++) {
        int w = snprintf(buf + len, n - len, "%s%s=%llu", i ? " " : "", v[i].name,
                         (unsigned long long)v[i].count);
        if (w < 0) break;
        len += (size_t)w;
    }
    return count ? buf : "-";
}

int cpctl_stats(struct cpctl *ctl, int argc, char **argv)
{
    if (cpctl_wants_help(argc, argv)) {
        fputs(stats_usage, stdout);
        return EXIT_OK;
    }
    if (argc > 1) return cpctl_usage_error("stats ", "stats takes no arguments");
    struct cpc_stats *s = NULL;
    int err = cp_client_stats(ctl->client, &s);
    if (err) return cpctl_fail(ctl, err, "stats");
    if (ctl->json) {
        cpctl_print_json(s->json);
        cp_client_stats_free(s);
        return EXIT_OK;
    }
    char n[16][32], line[6][1024];
    const char *const rows[][2] = {
        {"registry", ""},
        {"  total_agents", fmt_u64(s->total_agents, n[0], sizeof n[0])},
        {"  available_agents", fmt_u64(s->available_agents, n[1], sizeof n[1])},
        {"  by_status", enum_line(s->agents_by_status, cp_agent_status_names, CP_AGENT_STATUS_COUNT,
                                  line[0], sizeof line[0])},
        {"  by_capability",
         count_line(s->agents_by_capability, s->n_agents_by_capability, line[1], sizeof line[1])},
        {"  by_provider",
         count_line(s->agents_by_provider, s->n_agents_by_provider, line[2], sizeof line[2])},
        {"scheduler", ""},
        {"  pending_tasks", fmt_u64(s->pending_tasks, n[2], sizeof n[2])},
        {"  running_tasks", fmt_u64(s->running_tasks, n[3], sizeof n[3])},
        {"  total", fmt_u64(s->total_tasks, n[4], sizeof n[4])},
        {"  by_status", enum_line(s->tasks_by_status, cp_task_status_names, CP_TASK_STATUS_COUNT,
                                  line[3], sizeof line[3])},
        {"  by_priority", enum_line(s->tasks_by_priority, cp_priority_names, CP_PRIORITY_COUNT,
                                    line[4], sizeof line[4])},
        {"  by_type", count_line(s->tasks_by_type, s->n_tasks_by_type, line[5], sizeof line[5])},
        {"health", ""},
        {"  system_health", cp_health_name(s->system_health)},
        {"  healthy_count", fmt_u64(s->healthy_count, n[5], sizeof n[5])},
        {"  degraded_count", fmt_u64(s->degraded_count, n[6], sizeof n[6])},
        {"  unhealthy_count", fmt_u64(s->unhealthy_count, n[7], sizeof n[7])},
        {"  circuits_open", fmt_u64(s->circuits_open, n[8], sizeof n[8])},
    };
    struct table *t = table_new(2, NULL);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        table_row(t, rows[i]);
    table_print(t);
    table_free(t);
    cp_client_stats_free(s);
    return EXIT_OK;
}
