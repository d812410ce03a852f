/* events.c — `cpctl events`: the event stream printed live, one line per event (or one JSON
 * object per line with --json), reconnecting from the last id seen until interrupted (Ctrl-C:
 * exit 0) or --count events were printed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cpctl.h"

static const char events_usage[] =
    "usage: cpctl events [--type NAME]... [--task-type TYPE] [--agent AGENT_ID]\n"
    "                    [--last-event-id ID] [--count N] [--no-reconnect]\n"
    "\n"
    "  Prints the control plane's events as they happen, one line each: time, event, id and\n"
    "  what changed (with --json: {\"id\", \"event\", \"data\"} per line). Reconnects by itself,\n"
    "  resuming after the last event printed. Ctrl-C ends it (exit 0).\n"
    "  --type NAME         only these events (repeat or comma-separate): agent_registered,\n"
    "                      agent_unregistered, agent_status_changed, task_submitted,\n"
    "                      task_claimed, task_started, task_completed, task_failed,\n"
    "                      task_requeued, task_timeout, task_cancelled, health_update,\n"
    "                      task_extended, task_retried, task_due\n"
    "  --task-type TYPE    only task events of this task type\n"
    "  --agent AGENT_ID    only events about this agent\n"
    "  --last-event-id ID  first the events after this id (as far as the server keeps them)\n"
    "  --count N           stop after N events (resync and overflow included)\n"
    "  --no-reconnect      stop when the connection ends (exit 3 if it failed)\n";

static cp_client *interrupt_client;

static void on_sigint(int sig)
{
    (void)sig;
    if (interrupt_client) cp_client_interrupt(interrupt_client);
}

struct printer {
    struct cpctl *ctl;
    unsigned long left; /* events still to print; 0 = no limit */
    int limited;
};

static const char *str(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* "key=value" for each member worth a column, in a fixed order. */
static void print_line(const struct cpc_event *ev)
{
    json_object *d = json_tokener_parse(ev->data);
    const char *ts = d ? str(d, "timestamp") : NULL;
    printf("%s  %-20s  %s", ts ? ts : "-", ev->type, ev->id[0] ? ev->id : "-");
    if (d && json_object_is_type(d, json_type_object)) {
        static const char *const keys[] = {"agent_id",   "task_id",     "task_type",
                                           "priority",   "reason",      "old_health",
                                           "new_health", "old_circuit", "new_circuit"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            const char *v = str(d, keys[i]);
            if (v) printf("  %s=%s", keys[i], v);
        }
        const char *from = str(d, "old_status"), *to = str(d, "new_status");
        if (from || to) printf("  %s -> %s", from ? from : "-", to ? to : "-");
        json_object *att;
        if (json_object_object_get_ex(d, "attempt", &att) && json_object_get_int(att) > 0)
            printf("  attempt=%d", json_object_get_int(att));
    }
    putchar('\n');
    json_object_put(d);
}

static int on_event(void *arg, const struct cpc_event *ev)
{
    struct printer *p = arg;
    if (p->ctl->json) {
        json_object *o = json_object_new_object();
        json_object *data = json_tokener_parse(ev->data);
        if (o) {
            json_object_object_add(o, "id", ev->id[0] ? json_object_new_string(ev->id) : NULL);
            json_object_object_add(o, "event", json_object_new_string(ev->type));
            json_object_object_add(o, "data", data ? data : json_object_new_string(ev->data));
            puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
            json_object_put(o);
        }
    } else {
        print_line(ev);
    }
    fflush(stdout);
    return p->limited && --p->left == 0;
}

int cpctl_events(struct cpctl *ctl, int argc, char **argv)
{
    if (cpctl_wants_help(argc, argv)) {
        fputs(events_usage, stdout);
        return EXIT_OK;
    }
    struct cpctl_list types = {0};
    struct cpc_events_options opt = {.reconnect = 1};
    struct printer p = {ctl, 0, 0};
    int rc = EXIT_OK;
    char joined[1024] = "";
    for (int i = 1; i < argc && rc == EXIT_OK; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-reconnect") == 0) {
            opt.reconnect = 0;
            continue;
        }
        int takes = !strcmp(a, "--type") || !strcmp(a, "--task-type") || !strcmp(a, "--agent") ||
                    !strcmp(a, "--last-event-id") || !strcmp(a, "--count");
        if (!takes) {
            rc = cpctl_usage_error("events ", "unknown argument '%s'", a);
            break;
        }
        if (!v) {
            rc = cpctl_usage_error("events ", "%s needs a value", a);
            break;
        }
        i++;
        if (!strcmp(a, "--type")) {
            if (cpctl_list_add(&types, "--type", v) < 0) rc = EXIT_USAGE;
        } else if (!strcmp(a, "--task-type")) {
            opt.task_type = v;
        } else if (!strcmp(a, "--agent")) {
            opt.agent_id = v;
        } else if (!strcmp(a, "--last-event-id")) {
            opt.last_event_id = v;
        } else if (cpctl_parse_ulong("--count", v, 1000000000UL, &p.left) < 0 || p.left == 0) {
            rc = cpctl_usage_error("events ", "--count wants a number from 1");
        } else {
            p.limited = 1;
        }
    }
    for (size_t i = 0; rc == EXIT_OK && i < types.n; i++) {
        size_t len = strlen(joined);
        if (len + strlen(types.v[i]) + 2 > sizeof joined) {
            rc = cpctl_usage_error("events ", "too many --type names");
            break;
        }
        snprintf(joined + len, sizeof joined - len, "%s%s", len ? "," : "", types.v[i]);
    }
    if (types.n) opt.types = joined;
    if (rc == EXIT_OK) {
        interrupt_client = ctl->client;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        int err = cp_client_events(ctl->client, &opt, on_event, &p);
        interrupt_client = NULL;
        if (err == CPC_ERR_INTERRUPTED) err = CPC_OK;
        rc = err ? cpctl_fail(ctl, err, "events") : EXIT_OK;
    }
    cpctl_list_free(&types);
    return rc;
}
