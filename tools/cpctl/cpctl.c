/* cpctl.c — the operator CLI's entry point: global options (--url, --token, --json,
 * --request-timeout, anywhere on the line), dispatch to the command files, error-to-exit-code
 * mapping. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpctl.h"

#ifndef CP_VERSION
#define CP_VERSION "0"
#endif

static const char usage_text[] =
    "usage: cpctl [--url URL] [--token TOKEN] [--json] [--request-timeout SECONDS] COMMAND ...\n"
    "\n"
    "Commands:\n"
    "  agents list|get|rm|select|drain|undrain\n"
    "  tenants list|get|set|rm\n"
    "                              the agent registry\n"
    "  tasks submit|get|wait|cancel|list|extend|retry|purge\n"
    "                              the task queue\n"
    "  health [AGENT]              system health, or one agent's health and circuit\n"
    "  stats                       registry, scheduler and health counters\n"
    "  events                      the events as they happen (agents, tasks, health)\n"
    "  queue [--limit N], metrics  the original dashboard's job list and counters\n"
    "  plugins                     the loaded plugins (storage, strategies, probes)\n"
    "  quotas list|get|put|rm      provider quotas and their live headroom\n"
    "\n"
    "Global options (anywhere on the line):\n"
    "  --url URL          the control plane (default $CONTROL_PLANE_URL, else " CPC_DEFAULT_URL
    ")\n"
    "  --token TOKEN      bearer token (default $CONTROL_PLANE_TOKEN)\n"
    "  --json             print the server's JSON instead of a table\n"
    "  --request-timeout SECONDS\n"
    "                     per HTTP request (default 30; long polls get their wait + 5)\n"
    "  -h, --help         this text; `cpctl COMMAND --help` for a command's own\n"
    "  --version          print the version\n"
    "\n"
    "Exit codes: 0 ok, 1 not found, 2 usage (or the server refused the arguments),\n"
    "3 server or connection error, 4 `tasks wait`: the task did not complete in time or "
    "did not succeed.\n";

int cpctl_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    }
    return 0;
}

int cpctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("cpctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'cpctl %s--help'.\n", cmd ? cmd : "");
    return EXIT_USAGE;
}

int cpctl_fail(struct cpctl *ctl, int err, const char *what)
{
    const char *msg = cp_client_last_message(ctl->client);
    const char *code = cp_client_last_code(ctl->client);
    fprintf(stderr, "cpctl: %s: %s", what, *msg ? msg : cp_client_strerror(err));
    /* A 503 says whether the request took effect: "applied: false" (nothing changed, retry as
     * is) or "applied: unknown" (it may have). */
    int applied = cp_client_last_applied(ctl->client);
    if (*code && applied != CPC_APPLIED_NOT_SAID)
        fprintf(stderr, " (%s, applied: %s)", code,
                applied == CPC_APPLIED_NO ? "false" : "unknown");
    else if (*code)
        fprintf(stderr, " (%s)", code);
    fputc('\n', stderr);
    switch (err) {
    case CPC_ERR_NOT_FOUND:
        return EXIT_NOT_FOUND;
    case CPC_ERR_INVALID:
    case CPC_ERR_TOO_LARGE:
    case CPC_ERR_MEDIA_TYPE:
        return EXIT_USAGE;
    default:
        return EXIT_SERVER;
    }
}

/* Takes "--name VALUE" or "--name=VALUE" at argv[*i]; 1 when it matched (value in *out),
 * -1 when the value is missing, 0 when argv[*i] is something else. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *out = argv[++*i];
    return 1;
}

/* Removes the global options from argv (they may appear anywhere before "--");
 * returns the new argc, or -1 after printing a usage error. */
static int take_globals(struct cpctl *ctl, int argc, char **argv, int *show_version)
{
    int out = 1;
    const char *timeout = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (strcmp(argv[i], "--") == 0) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        if ((r = take_value(argc, argv, &i, "--url", &v)) != 0) {
            if (r < 0) return cpctl_usage_error(NULL, "--url needs a value"), -1;
            ctl->url = v;
        } else if ((r = take_value(argc, argv, &i, "--token", &v)) != 0) {
            if (r < 0) return cpctl_usage_error(NULL, "--token needs a value"), -1;
            ctl->token = v;
        } else if ((r = take_value(argc, argv, &i, "--request-timeout", &v)) != 0) {
            if (r < 0) return cpctl_usage_error(NULL, "--request-timeout needs a value"), -1;
            timeout = v;
        } else if (strcmp(argv[i], "--json") == 0) {
            ctl->json = 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            *show_version = 1;
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    if (timeout) {
        char *end;
        double s = strtod(timeout, &end);
        if (end == timeout || *end || !(s > 0) || s > 86400)
            return cpctl_usage_error(NULL,
                                     "--request-timeout: '%s' is not a number of seconds (0-86400]",
                                     timeout),
                   -1;
        ctl->timeout_ms = (long)(s * 1000);
        if (ctl->timeout_ms < 1) ctl->timeout_ms = 1;
    }
    return out;
}

static const struct {
    const char *name;
    cpctl_cmd_fn fn;
} commands[] = {
    {"agents", cpctl_agents},   {"tasks", cpctl_tasks},     {"health", cpctl_health},
    {"stats", cpctl_stats},     {"events", cpctl_events},   {"plugins", cpctl_plugins},
    {"queue", cpctl_queue},     {"metrics", cpctl_metrics}, {"quotas", cpctl_quotas},
    {"tenants", cpctl_tenants},
};

int main(int argc, char **argv)
{
    struct cpctl ctl = {.url = getenv("CONTROL_PLANE_URL"), .token = getenv("CONTROL_PLANE_TOKEN")};
    if (ctl.url && !*ctl.url) ctl.url = NULL;
    if (ctl.token && !*ctl.token) ctl.token = NULL;
    int show_version = 0;
    argc = take_globals(&ctl, argc, argv, &show_version);
    if (argc < 0) return EXIT_USAGE;
    if (show_version) {
        printf("cpctl %s\n", CP_VERSION);
        return EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    cpctl_cmd_fn fn = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) fn = commands[i].fn;
    if (!fn) return cpctl_usage_error(NULL, "unknown command '%s'", argv[1]);

    struct cpc_options opt = {.url = ctl.url,
                              .token = ctl.token,
                              .timeout_ms = ctl.timeout_ms,
                              .user_agent = "cpctl/" CP_VERSION};
    int err = cp_client_open(&ctl.client, &opt);
    if (err == CPC_ERR_INVALID)
        return cpctl_usage_error(NULL, "bad --url '%s' (want http://host:port)",
                                 ctl.url ? ctl.url : "");
    if (err) {
        fprintf(stderr, "cpctl: %s\n", cp_client_strerror(err));
        return EXIT_SERVER;
    }
    int rc = fn(&ctl, argc - 1, argv + 1);
    cp_client_free(ctl.client);
    return rc;
}
