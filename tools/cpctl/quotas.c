/* quotas.c — `cpctl quotas list|get|put|rm`: provider quotas and their live headroom
 * (GET/POST/DELETE /quotas, docs/fleet.md). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cpctl.h"

static const char quotas_usage[] =
    "usage: cpctl quotas list\n"
    "       cpctl quotas get ID\n"
    "       cpctl quotas put ID --provider P [--model M] [--key-id K] [--rpm N] [--tpm N]\n"
    "                           [--max-in-flight N]\n"
    "       cpctl quotas rm ID\n"
    "\n"
    "  Provider quotas: requests and tokens per minute and tasks in flight, reserved by each\n"
    "  claim of an agent under the quota. list/get show the live headroom; put defines or\n"
    "  replaces one (admin token; limits left out: none); rm deletes one.\n";

static const char *const headers[] = {"ID",        "SCOPE", "REQ LEFT",     "TOK LEFT",
                                      "IN FLIGHT", "LIMIT", "PAUSED UNTIL", "429S"};
#define COLS (sizeof headers / sizeof headers[0])

static const char *num(int64_t v, char *buf, size_t n)
{
    if (v < 0) return "-";
    snprintf(buf, n, "%" PRId64, v);
    return buf;
}

static void print_list(struct cpctl *ctl, const struct cpc_quota_list *l)
{
    if (ctl->json) {
        cpctl_print_json(l->json);
        return;
    }
    struct table *t = table_new(COLS, headers);
    for (size_t i = 0; i < l->n; i++) {
        const struct cpc_quota *q = &l->quotas[i];
        char scope[400], a[32], b[32], c[32], d[32], e[40], f[32];
        snprintf(scope, sizeof scope, "%s%s%s%s%s", q->provider, q->model ? "/" : "",
                 q->model ? q->model : "", q->key_id ? " key " : "", q->key_id ? q->key_id : "");
        const char *cells[COLS] = {q->id,
                                   scope,
                                   num(q->requests_left, a, sizeof a),
                                   num(q->tokens_left, b, sizeof b),
                                   num(q->in_flight, c, sizeof c),
                                   num(q->concurrency_limit, d, sizeof d),
                                   fmt_time(q->paused_until_ms, e, sizeof e),
                                   num(q->rate_limited, f, sizeof f)};
        table_row(t, cells);
    }
    table_print(t);
    table_free(t);
}

static int put(struct cpctl *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"provider", required_argument, NULL, 'p'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"key-id", required_argument, NULL, 'k'},
                                         {"rpm", required_argument, NULL, 'r'},
                                         {"tpm", required_argument, NULL, 't'},
                                         {"max-in-flight", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    struct cpc_quota_spec q = {0};
    unsigned long v;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:m:k:r:t:f:", opts, NULL)) != -1) {
        if (c == 'p') {
            q.provider = optarg;
        } else if (c == 'm') {
            q.model = optarg;
        } else if (c == 'k') {
            q.key_id = optarg;
        } else if (c == 'r' || c == 't' || c == 'f') {
            const char *what = c == 'r' ? "--rpm" : c == 't' ? "--tpm" : "--max-in-flight";
            if (cpctl_parse_ulong(what, optarg, c == 'f' ? 4294967295UL : 1000000000000UL, &v) < 0)
                return EXIT_USAGE;
            if (c == 'r')
                q.rpm = v;
            else if (c == 't')
                q.tpm = v;
            else
                q.max_in_flight = (uint32_t)v;
        } else {
            return cpctl_usage_error("quotas ", "quotas put: unknown option %s", argv[optind - 1]);
        }
    }
    if (optind != argc - 1 || !q.provider)
        return cpctl_usage_error("quotas ", "quotas put takes one ID and --provider");
    q.id = argv[optind];
    struct cpc_quota_list *l = NULL;
    int err = cp_client_quota_put(ctl->client, &q, &l);
    if (err) return cpctl_fail(ctl, err, "quotas put");
    print_list(ctl, l);
    cp_client_quota_list_free(l);
    return EXIT_OK;
}

int cpctl_quotas(struct cpctl *ctl, int argc, char **argv)
{
    if (argc < 2 || cpctl_wants_help(argc, argv)) {
        fputs(quotas_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1];
    struct cpc_quota_list *l = NULL;
    int err;
    if (strcmp(sub, "put") == 0) return put(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0) {
        if (argc != 2) return cpctl_usage_error("quotas ", "quotas list takes no arguments");
        err = cp_client_quotas(ctl->client, &l);
    } else if (strcmp(sub, "get") == 0 || strcmp(sub, "rm") == 0) {
        if (argc != 3) return cpctl_usage_error("quotas ", "quotas %s takes one ID", sub);
        if (sub[0] == 'r') {
            err = cp_client_quota_delete(ctl->client, argv[2]);
            if (err) return cpctl_fail(ctl, err, "quotas rm");
            return EXIT_OK;
        }
        err = cp_client_quota_get(ctl->client, argv[2], &l);
    } else {
        return cpctl_usage_error("quotas ", "unknown quotas command '%s'", sub);
    }
    if (err) return cpctl_fail(ctl, err, "quotas");
    print_list(ctl, l);
    cp_client_quota_list_free(l);
    return EXIT_OK;
}
