/* scen_fill.c — bulk load for scale runs: register --agents agents, then submit --tasks tasks of
 * about --payload-bytes each, with -c connections, bounded by -d seconds. Prints each phase's
 * count and rate. */
#include <stdio.h>

#include "bulk.h"
#include "scenarios.h"

static void phase(const char *name, const struct bulk_result *b, int json, int first)
{
    double rate = b->seconds > 0 ? (double)b->ok / b->seconds : 0;
    if (json)
        printf("%s\"%s\":{\"ok\":%llu,\"failed\":%llu,\"seconds\":%.3f,\"per_s\":%.1f}",
               first ? "" : ",", name, (unsigned long long)b->ok, (unsigned long long)b->failed,
               b->seconds, rate);
    else
        printf("  %-8s %10llu ok %6llu failed in %8.2f s: %10.1f /s%s%s\n", name,
               (unsigned long long)b->ok, (unsigned long long)b->failed, b->seconds, rate,
               b->first_error[0] ? "  first error: " : "", b->first_error);
}

int scenario_fill(struct event_base *base, const struct args *a)
{
    struct bulk_result ag = {0}, tk = {0};
    int rc = 0;
    if (a->setup && a->agents) rc |= bulk_register_agents(base, a, &ag);
    if (rc == 0 && a->tasks && a->batch > 1) {
        /* Requests of a->batch tasks; counted in tasks (an answer 200 stored all of them: the
         * bodies are valid). */
        double left = a->duration_s - ag.seconds;
        uint64_t requests = (a->tasks + a->batch - 1) / a->batch;
        rc |= bulk_post(base, a, a->connections, requests, bulk_make_task_batch,
                        left > 1 ? left : 1, &tk);
        uint64_t ok = tk.ok * a->batch;
        tk.ok = ok > a->tasks ? a->tasks : ok;
    } else if (rc == 0 && a->tasks) {
        double left = a->duration_s - ag.seconds;
        rc |=
            bulk_post(base, a, a->connections, a->tasks, bulk_make_task, left > 1 ? left : 1, &tk);
    }
    if (a->json) {
        printf("{\"scenario\":\"fill\",\"target\":\"%s:%d\",\"connections\":%d,\"ok\":%s,", a->host,
               a->port, a->connections, rc == 0 ? "true" : "false");
        phase("agents", &ag, 1, 1);
        phase("tasks", &tk, 1, 0);
        printf("}\n");
    } else {
        printf("cp-bench fill -> %s:%d  connections %d\n", a->host, a->port, a->connections);
        phase("agents", &ag, 0, 1);
        phase("tasks", &tk, 0, 0);
    }
    fflush(stdout);
    return rc;
}
