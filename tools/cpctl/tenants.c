/* tenants.c — `cpctl tenants list|get|set|rm`: fair share between tenants (GET/PUT/DELETE
 * /tenants). */
#include <stdio.h>
#include <string.h>

#include "cpctl.h"

static const char tenants_usage[] =
    "usage: cpctl tenants list\n"
    "       cpctl tenants get TENANT\n"
    "       cpctl tenants set TENANT [--weight N] [--max-in-flight N]\n"
    "       cpctl tenants rm TENANT\n"
    "\n"
    "  list   every tenant the store knows (configured, or having tasks): weight, limit,\n"
    "         waiting and in-flight tasks, tokens served\n"
    "  get    one tenant\n"
    "  set    its weight (default 1: its share of each priority band relative to the\n"
    "         others') and max_in_flight (default 0: no limit) (admin token)\n"
    "  rm     back to weight 1 without a limit (admin token)\n";

static const char *const headers[] = {"TENANT",    "WEIGHT", "MAX_IN_FLIGHT", "WAITING",
                                      "IN_FLIGHT", "TOKENS", "CONFIGURED"};
#define COLS (sizeof headers / sizeof headers[0])

static void row(struct table *t, const struct cpc_tenant *x)
{
    char b[5][32];
    const char *cells[COLS] = {x->id,
                               fmt_u64(x->weight, b[0], sizeof b[0]),
                               x->max_in_flight ? fmt_u64(x->max_in_flight, b[1], sizeof b[1])
                                                : "-",
                               fmt_u64(x->waiting, b[2], sizeof b[2]),
                               fmt_u64(x->in_flight, b[3], sizeof b[3]),
                               fmt_u64(x->tokens_served, b[4], sizeof b[4]),
                               x->configured ? "yes" : "no"};
    table_row(t, cells);
}

static int print_one(struct cpctl *ctl, struct cpc_tenant *x)
{
    if (ctl->json) {
        cpctl_print_json(x->json);
    } else {
        struct table *t = table_new(COLS, headers);
        row(t, x);
        table_print(t);
        table_free(t);
    }
    cp_client_tenant_free(x);
    return EXIT_OK;
}

static int cmd_list(struct cpctl *ctl)
{
    struct cpc_tenant_list *l = NULL;
    int err = cp_client_tenant_list(ctl->client, &l);
    if (err) return cpctl_fail(ctl, err, "tenants list");
    if (ctl->json) {
        cpctl_print_json(l->json);
    } else {
        struct table *t = table_new(COLS, headers);
        for (size_t i = 0; i < l->n; i++)
            row(t, &l->tenants[i]);
        table_print(t);
        table_free(t);
    }
    cp_client_tenant_list_free(l);
    return EXIT_OK;
}

static int cmd_set(struct cpctl *ctl, int argc, char **argv)
{
    const char *id = argc > 1 ? argv[1] : NULL;
    if (!id) return cpctl_usage_error("tenants ", "tenants set: give a TENANT");
    unsigned long weight = 1, max = 0;
    for (int i = 2; i < argc; i++) {
        int w = strcmp(argv[i], "--weight") == 0, m = strcmp(argv[i], "--max-in-flight") == 0;
        if ((!w && !m) || i + 1 >= argc)
            return cpctl_usage_error("tenants ", "tenants set: unexpected '%s'", argv[i]);
        if (cpctl_parse_ulong(argv[i], argv[i + 1], w ? 1000000 : 1000000000, w ? &weight : &max) <
            0)
            return EXIT_USAGE;
        if (w && weight < 1) return cpctl_usage_error("tenants ", "--weight must be at least 1");
        i++;
    }
    struct cpc_tenant *x = NULL;
    int err = cp_client_tenant_put(ctl->client, id, (uint32_t)weight, (uint32_t)max, &x);
    if (err) return cpctl_fail(ctl, err, "tenants set");
    return print_one(ctl, x);
}

int cpctl_tenants(struct cpctl *ctl, int argc, char **argv)
{
    if (cpctl_wants_help(argc, argv) || argc < 2) {
        fputs(tenants_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1];
    argc--, argv++;
    if (strcmp(sub, "list") == 0) {
        if (argc > 1) return cpctl_usage_error("tenants ", "tenants list takes no arguments");
        return cmd_list(ctl);
    }
    if (strcmp(sub, "set") == 0) return cmd_set(ctl, argc, argv);
    if (strcmp(sub, "get") == 0 || strcmp(sub, "rm") == 0) {
        if (argc != 2) return cpctl_usage_error("tenants ", "tenants %s: give one TENANT", sub);
        struct cpc_tenant *x = NULL;
        int get = sub[0] == 'g';
        int err = get ? cp_client_tenant_get(ctl->client, argv[1], &x)
                      : cp_client_tenant_delete(ctl->client, argv[1], &x);
        if (err) return cpctl_fail(ctl, err, get ? "tenants get" : "tenants rm");
        return print_one(ctl, x);
    }
    return cpctl_usage_error("tenants ", "unknown tenants command '%s'", sub);
}
