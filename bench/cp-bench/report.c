/* report.c — a run's figures as a human table or as one JSON object (--json) for scripts. */
#include <stdio.h>

#include "run.h"

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void print_json(const struct run *r, const char *extra_json)
{
    const struct args *a = r->a;
    double secs = run_seconds(r);
    printf("{\"scenario\":\"%s\",\"target\":\"%s:%d\",\"connections\":%d,\"submitters\":%d,"
           "\"agents\":%llu,\"seconds\":%.3f,\"ops\":%llu,\"unit\":\"%s\",\"throughput\":%.1f,"
           "\"errors\":%llu,\"failed\":%s",
           a->scenario_name, a->host, a->port, a->connections, a->submitters,
           (unsigned long long)a->agents, secs, (unsigned long long)r->ops, r->ops_unit,
           secs > 0 ? (double)r->ops / secs : 0.0, (unsigned long long)r->errors,
           r->failed ? "true" : "false");
    if (r->first_error[0]) {
        printf(",\"first_error\":");
        json_str(r->first_error);
    }
    printf(",\"latency_ms\":{");
    for (int i = 0; i < r->n_hists; i++) {
        const struct hist *h = &r->hists[i];
        printf("%s\"%s\":{\"count\":%llu,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
               "\"max\":%.3f}",
               i ? "," : "", r->hist_names[i], (unsigned long long)h->count, hist_mean(h) / 1000.0,
               (double)hist_percentile(h, 50) / 1000.0, (double)hist_percentile(h, 90) / 1000.0,
               (double)hist_percentile(h, 99) / 1000.0, (double)h->max / 1000.0);
    }
    printf("},\"counters\":{");
    for (int i = 0; i < r->n_counters; i++)
        printf("%s\"%s\":%llu", i ? "," : "", r->counter_names[i],
               (unsigned long long)r->counters[i]);
    printf("}");
    if (extra_json && *extra_json) printf(",%s", extra_json);
    printf("}\n");
}

static void print_text(const struct run *r, const char *extra_text)
{
    const struct args *a = r->a;
    double secs = run_seconds(r);
    printf("cp-bench %s -> %s:%d  connections %d", a->scenario_name, a->host, a->port,
           a->connections);
    if (a->scenario == SC_LIFECYCLE || a->scenario == SC_WAKEUP)
        printf(", submitters %d", a->submitters);
    printf(", agents %llu\n", (unsigned long long)a->agents);
    printf("  measured %.2f s: %llu ops, %.1f %s, %llu errors%s\n", secs,
           (unsigned long long)r->ops, secs > 0 ? (double)r->ops / secs : 0.0, r->ops_unit,
           (unsigned long long)r->errors, r->failed ? "  (RUN FAILED)" : "");
    if (r->first_error[0]) printf("  first error: %s\n", r->first_error);
    if (r->n_hists) {
        printf("  %-14s %10s %9s %9s %9s %9s %9s  (ms)\n", "latency", "count", "mean", "p50", "p90",
               "p99", "max");
        for (int i = 0; i < r->n_hists; i++) {
            const struct hist *h = &r->hists[i];
            printf("  %-14s %10llu %9.3f %9.3f %9.3f %9.3f %9.3f\n", r->hist_names[i],
                   (unsigned long long)h->count, hist_mean(h) / 1000.0,
                   (double)hist_percentile(h, 50) / 1000.0, (double)hist_percentile(h, 90) / 1000.0,
                   (double)hist_percentile(h, 99) / 1000.0, (double)h->max / 1000.0);
        }
    }
    for (int i = 0; i < r->n_counters; i++)
        printf("  %-14s %llu\n", r->counter_names[i], (unsigned long long)r->counters[i]);
    if (extra_text && *extra_text) fputs(extra_text, stdout);
}

void report_print(const struct run *r, int json, const char *extra_text, const char *extra_json)
{
    if (json)
        print_json(r, extra_json);
    else
        print_text(r, extra_text);
    fflush(stdout);
}
