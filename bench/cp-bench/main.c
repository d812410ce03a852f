/* main.c — cp-bench: parse the options, register the agents, run one scenario against cpd on
 * the loopback and print its figures. Exit 0 on a valid run, 1 on a failed one, 2 on bad use. */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "args.h"
#include "bulk.h"
#include "run.h"
#include "scenarios.h"

/* Many connections need many descriptors: take the hard limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static const char *unit_of(enum scenario s)
{
    switch (s) {
    case SC_LIFECYCLE:
        return "tasks/s";
    case SC_WAKEUP:
        return "tasks/s";
    case SC_CLAIM:
        return "claims/s";
    default:
        return "req/s";
    }
}

int main(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv);
    if (rc != 0) return rc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    /* evhttp enables and disables a connection's events around every request; the changelist
     * folds those into one epoll_ctl per loop turn (a quarter of the client's CPU otherwise). */
    struct event_config *ecfg = event_config_new();
    if (ecfg) event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    if (ecfg) event_config_free(ecfg);
    if (!base) base = event_base_new();
    if (!base) {
        fprintf(stderr, "cp-bench: cannot create the event loop\n");
        return 1;
    }
    if (a.scenario == SC_FILL) {
        rc = scenario_fill(base, &a);
        event_base_free(base);
        return rc == 0 ? 0 : 1;
    }
    if (a.setup && a.scenario != SC_RAW) {
        struct bulk_result b;
        if (bulk_register_agents(base, &a, &b) != 0) {
            fprintf(stderr, "cp-bench: registering %llu agents failed after %llu: %s\n",
                    (unsigned long long)a.agents, (unsigned long long)b.ok, b.first_error);
            event_base_free(base);
            return 1;
        }
    }
    struct run r;
    run_init(&r, base, &a, unit_of(a.scenario));
    switch (a.scenario) {
    case SC_LIFECYCLE:
        rc = scenario_lifecycle(&r);
        break;
    case SC_WAKEUP:
        rc = scenario_wakeup(&r);
        break;
    case SC_CLAIM:
        rc = scenario_claim(&r);
        break;
    default:
        rc = scenario_requests(&r);
        break;
    }
    if (rc == 0) report_print(&r, a.json, NULL, NULL);
    run_cleanup(&r);
    event_base_free(base);
    return rc == 0 && !r.failed ? 0 : 1;
}
