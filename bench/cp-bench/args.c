/* args.c — cp-bench's command line. Every number is range-checked and every refusal names the
 * option; the target must be a loopback address (this tool sends load, and load goes nowhere
 * but this machine). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

static const char usage[] =
    "usage: cp-bench --scenario NAME [options]\n"
    "\n"
    "Load generator for cpd (loopback only). Scenarios:\n"
    "  lifecycle  -m submitters POST /tasks; -c agents loop: long-poll claim -> complete\n"
    "  heartbeat  -c connections POST /agents/:id/heartbeat over --agents agents\n"
    "  read       -c connections GET /agents/:id over --agents agents\n"
    "  select     -c connections GET /agents/select?capability=CAP\n"
    "  wakeup     -c agents hold long-poll claims; -m submitters submit at --rate per second;\n"
    "             latency = submit sent -> task received by a held claimer\n"
    "  claim      -c agents loop: claim (block_ms 0) -> complete, over what is pending\n"
    "  fill       register --agents agents and submit --tasks tasks with -c connections\n"
    "  raw        --method/--path/--body against any loopback HTTP server (calibration)\n"
    "\n"
    "Options:\n"
    "  -u, --url URL          target, e.g. http://127.0.0.1:8080 (loopback only)\n"
    "  -s, --scenario NAME    one of the above\n"
    "  -c, --connections N    agent/request connections (default 50; wakeup 100)\n"
    "  -m, --submitters N     submitter connections (default: lifecycle 4, wakeup 16)\n"
    "  -d, --duration SECS    measured time (default 10; fill: a time cap, default 3600)\n"
    "  -w, --warmup SECS      unmeasured time before it (default 1; 0 for fill)\n"
    "  -n, --count N          stop after N operations (lifecycles, requests, tasks received)\n"
    "      --agents N         registered agents <prefix>-0..N-1 (default: max(-c, 1000) for\n"
    "                         heartbeat/read/select, else -c)\n"
    "      --tasks N          fill: tasks to submit (default 0)\n"
    "      --batch N          fill: submit them N per POST /tasks/batch (default 1: POST /tasks)\n"
    "      --block-ms MS      long-poll hold of a claim (default 1000; wakeup 30000)\n"
    "      --rate R           wakeup: submits per second (default 1000)\n"
    "      --backlog N        lifecycle: max submitted-not-completed tasks (default 2 x -c)\n"
    "      --payload-bytes N  approximate task payload size (default 100)\n"
    "      --capability CAP   the agents' capability and the tasks' requirement (default bench)\n"
    "      --prefix P         agent id prefix (default bench)\n"
    "      --token T          bearer token (default: $CP_BENCH_TOKEN, else none)\n"
    "      --no-setup         do not register the agents (a fill did it already)\n"
    "      --method M --path P --body B   raw: the request (default GET /)\n"
    "      --json             print one JSON object instead of the table\n"
    "  -h, --help\n";

static int fail(const char *fmt, const char *opt, const char *val)
{
    fprintf(stderr, "cp-bench: ");
    fprintf(stderr, fmt, opt, val);
    fprintf(stderr, "; try --help\n");
    return -1;
}

static int parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        char range[96];
        snprintf(range, sizeof range, "%%s: '%%s' is not a whole number in %llu..%llu",
                 (unsigned long long)lo, (unsigned long long)hi);
        return fail(range, opt, s);
    }
    *out = v;
    return 0;
}

static int parse_secs(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        char range[96];
        snprintf(range, sizeof range, "%%s: '%%s' is not a number in %g..%g", lo, hi);
        return fail(range, opt, s);
    }
    *out = v;
    return 0;
}

/* Accept http://HOST:PORT[/], HOST:PORT, [::1]:PORT. HOST must be loopback. */
static int parse_url(struct args *a, const char *url)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strstr(p, "://"))
        return fail("%s: '%s' is not an http:// URL", "--url", url);
    char host[64];
    const char *colon;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close || close[1] != ':') return fail("%s: '%s' has no port", "--url", url);
        if (close - p - 1 >= (long)sizeof host)
            return fail("%s: '%s' has a host name that is too long", "--url", url);
        snprintf(host, sizeof host, "%.*s", (int)(close - p - 1), p + 1);
        colon = close + 1;
    } else {
        colon = strchr(p, ':');
        if (!colon) return fail("%s: '%s' has no port", "--url", url);
        if (colon - p >= (long)sizeof host)
            return fail("%s: '%s' has a host name that is too long", "--url", url);
        snprintf(host, sizeof host, "%.*s", (int)(colon - p), p);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end && strcmp(end, "/") != 0) || port < 1 || port > 65535)
        return fail("%s: '%s' has no valid port", "--url", url);
    a->port = (int)port;

    struct in_addr v4;
    struct in6_addr v6;
    if (strcmp(host, "localhost") == 0) {
        snprintf(a->host, sizeof a->host, "127.0.0.1");
    } else if (inet_pton(AF_INET, host, &v4) == 1) {
        if ((ntohl(v4.s_addr) >> 24) != 127)
            return fail("%s: '%s' is not a loopback address (127.0.0.0/8, localhost, ::1); "
                        "cp-bench sends load to this machine only",
                        "--url", host);
        snprintf(a->host, sizeof a->host, "%s", host);
    } else if (inet_pton(AF_INET6, host, &v6) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6))
            return fail("%s: '%s' is not a loopback address (127.0.0.0/8, localhost, ::1); "
                        "cp-bench sends load to this machine only",
                        "--url", host);
        snprintf(a->host, sizeof a->host, "%s", host);
    } else {
        return fail("%s: '%s' is not a numeric loopback address or localhost", "--url", host);
    }
    return 0;
}

static const struct {
    const char *name;
    enum scenario sc;
} scenarios[] = {
    {"lifecycle", SC_LIFECYCLE}, {"heartbeat", SC_HEARTBEAT},
    {"read", SC_READ},           {"select", SC_SELECT},
    {"wakeup", SC_WAKEUP},       {"claim", SC_CLAIM},
    {"fill", SC_FILL},           {"raw", SC_RAW},
};

static int check_id(const char *opt, const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100 ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789._:@/-") != n)
        return fail("%s: '%s' must be 1-100 characters of [A-Za-z0-9._:@/-]", opt, s);
    return 0;
}

int args_parse(struct args *a, int argc, char **argv)
{
    enum {
        O_AGENTS = 256,
        O_TASKS,
        O_BLOCK,
        O_RATE,
        O_BACKLOG,
        O_PAYLOAD,
        O_CAP,
        O_PREFIX,
        O_TOKEN,
        O_NOSETUP,
        O_METHOD,
        O_PATH,
        O_BODY,
        O_JSON,
        O_BATCH
    };
    static const struct option opts[] = {
        {"url", required_argument, 0, 'u'},
        {"scenario", required_argument, 0, 's'},
        {"connections", required_argument, 0, 'c'},
        {"submitters", required_argument, 0, 'm'},
        {"duration", required_argument, 0, 'd'},
        {"warmup", required_argument, 0, 'w'},
        {"count", required_argument, 0, 'n'},
        {"agents", required_argument, 0, O_AGENTS},
        {"tasks", required_argument, 0, O_TASKS},
        {"block-ms", required_argument, 0, O_BLOCK},
        {"rate", required_argument, 0, O_RATE},
        {"backlog", required_argument, 0, O_BACKLOG},
        {"payload-bytes", required_argument, 0, O_PAYLOAD},
        {"capability", required_argument, 0, O_CAP},
        {"prefix", required_argument, 0, O_PREFIX},
        {"token", required_argument, 0, O_TOKEN},
        {"no-setup", no_argument, 0, O_NOSETUP},
        {"method", required_argument, 0, O_METHOD},
        {"path", required_argument, 0, O_PATH},
        {"body", required_argument, 0, O_BODY},
        {"json", no_argument, 0, O_JSON},
        {"batch", required_argument, 0, O_BATCH},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    const char *url = "http://127.0.0.1:8080";
    int have_c = 0, have_d = 0, have_w = 0, have_block = 0, have_m = 0;
    uint64_t v, agents = 0, backlog = 0;
    a->submitters = 4;
    a->rate = 1000;
    a->payload_bytes = 100;
    a->batch = 1;
    a->capability = "bench";
    a->prefix = "bench";
    a->token = getenv("CP_BENCH_TOKEN");
    a->setup = 1;
    a->method = "GET";
    a->path = "/";
    a->scenario_name = NULL;

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":u:s:c:m:d:w:n:h", opts, NULL)) != -1) {
        const char *o = optind > 1 && optind <= argc ? argv[optind - 1] : "?";
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 's':
            a->scenario_name = optarg;
            break;
        case 'c':
            if (parse_u64("-c", optarg, 1, 20000, &v)) return -1;
            a->connections = (int)v, have_c = 1;
            break;
        case 'm':
            if (parse_u64("-m", optarg, 1, 1000, &v)) return -1;
            a->submitters = (int)v, have_m = 1;
            break;
        case 'd':
            if (parse_secs("-d", optarg, 0.1, 86400, &a->duration_s)) return -1;
            have_d = 1;
            break;
        case 'w':
            if (parse_secs("-w", optarg, 0, 3600, &a->warmup_s)) return -1;
            have_w = 1;
            break;
        case 'n':
            if (parse_u64("-n", optarg, 1, UINT64_MAX / 2, &a->max_ops)) return -1;
            break;
        case O_AGENTS:
            if (parse_u64("--agents", optarg, 1, 100000000, &agents)) return -1;
            break;
        case O_BATCH: {
            uint64_t v;
            if (parse_u64("--batch", optarg, 1, 1000, &v)) return -1;
            a->batch = (uint32_t)v;
            break;
        }
        case O_TASKS:
            if (parse_u64("--tasks", optarg, 0, 1000000000, &a->tasks)) return -1;
            break;
        case O_BLOCK:
            if (parse_u64("--block-ms", optarg, 0, 60000, &v)) return -1;
            a->block_ms = (uint32_t)v, have_block = 1;
            break;
        case O_RATE:
            if (parse_secs("--rate", optarg, 1, 1000000, &a->rate)) return -1;
            break;
        case O_BACKLOG:
            if (parse_u64("--backlog", optarg, 1, 100000000, &backlog)) return -1;
            break;
        case O_PAYLOAD:
            if (parse_u64("--payload-bytes", optarg, 0, 1000000, &v)) return -1;
            a->payload_bytes = (uint32_t)v;
            break;
        case O_CAP:
            if (check_id("--capability", optarg)) return -1;
            a->capability = optarg;
            break;
        case O_PREFIX:
            if (check_id("--prefix", optarg)) return -1;
            a->prefix = optarg;
            break;
        case O_TOKEN:
            a->token = optarg;
            break;
        case O_NOSETUP:
            a->setup = 0;
            break;
        case O_METHOD:
            if (strcmp(optarg, "GET") && strcmp(optarg, "POST"))
                return fail("%s: '%s' must be GET or POST", "--method", optarg);
            a->method = optarg;
            break;
        case O_PATH:
            if (optarg[0] != '/') return fail("%s: '%s' must start with /", "--path", optarg);
            a->path = optarg;
            break;
        case O_BODY:
            a->body = optarg;
            break;
        case O_JSON:
            a->json = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        case ':':
            return fail("%s%s needs a value", o, "");
        default:
            return fail("unknown option '%s'%s", o, "");
        }
    }
    if (optind < argc) return fail("unexpected argument '%s'%s", argv[optind], "");
    if (!a->scenario_name) return fail("%s%s is required", "--scenario", "");
    size_t i;
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(scenarios[i].name, a->scenario_name) == 0) break;
    if (i == sizeof scenarios / sizeof scenarios[0])
        return fail("%s: '%s' is not one of lifecycle, heartbeat, read, select, wakeup, claim, "
                    "fill, raw",
                    "--scenario", a->scenario_name);
    a->scenario = scenarios[i].sc;
    if (parse_url(a, url)) return -1;

    if (!have_c) a->connections = a->scenario == SC_WAKEUP ? 100 : 50;
    /* wakeup is open-loop: enough submitters that a slow answer does not delay the next send */
    if (!have_m) a->submitters = a->scenario == SC_WAKEUP ? 16 : 4;
    if (!have_d) a->duration_s = a->scenario == SC_FILL ? 3600 : 10;
    if (!have_w) a->warmup_s = a->scenario == SC_FILL ? 0 : 1;
    if (!have_block) a->block_ms = a->scenario == SC_WAKEUP ? 30000 : 1000;
    int reads = a->scenario == SC_HEARTBEAT || a->scenario == SC_READ || a->scenario == SC_SELECT;
    if (!agents)
        agents = reads ? (a->connections > 1000 ? (uint64_t)a->connections : 1000)
                       : (a->scenario == SC_FILL ? 0 : (uint64_t)a->connections);
    if ((a->scenario == SC_LIFECYCLE || a->scenario == SC_WAKEUP || a->scenario == SC_CLAIM) &&
        agents < (uint64_t)a->connections)
        agents = (uint64_t)a->connections;
    a->agents = agents;
    a->backlog = backlog ? backlog : 2 * (uint64_t)a->connections;
    return 0;
}
