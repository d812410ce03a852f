/* config_args.c — cpd's command line, and the order the layers are applied in: defaults, the
 * YAML file (--config FILE, else ./cpd.yaml when present), the environment, then the flags. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cp/abi.h>

#include "config.h"
#include "config_internal.h"

#ifndef CP_VERSION
#define CP_VERSION "unknown"
#endif

#define DEFAULT_CONFIG_FILE "cpd.yaml"

static const char usage[] =
    "usage: cpd [--config FILE] [--listen HOST:PORT] [--check-config] [--help] [--version]\n"
    "\n"
    "The control plane for fleets of AI agents.\n"
    "\n"
    "  --config FILE       read this YAML file (default: ./cpd.yaml when it exists)\n"
    "  --listen HOST:PORT  address to serve on (default 127.0.0.1:8080)\n"
    "  --check-config      check the configuration and the plugins, then exit\n"
    "  --help              show this help and exit\n"
    "  --version           show the version and exit\n"
    "\n"
    "Precedence: built-in defaults < YAML file < environment < flags.\n"
    "Environment: CONTROL_PLANE_LISTEN, CONTROL_PLANE_STORAGE, CONTROL_PLANE_PLUGIN_DIR,\n"
    "  CONTROL_PLANE_TOKENS (token:role,...), CONTROL_PLANE_LOG_LEVEL, REDIS_URL,\n"
    "  CONTROL_PLANE_PREFIX, HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, PROBE_INTERVAL,\n"
    "  PROBE_TIMEOUT, TASK_TIMEOUT, MAX_TASK_RETRIES, CLEANUP_INTERVAL,\n"
    "  CONTROL_PLANE_PLUGINS_STRICT_PERMISSIONS.\n"
    "${VAR} in the YAML file is replaced by the environment variable VAR.\n"
    "SIGHUP reloads the configuration; see docs/operations.md.\n"
    "See docs/configuration.md for every key.\n";

static const char *real_getenv(const char *name)
{
    return getenv(name);
}

/* "--flag VALUE" or "--flag=VALUE". Returns the value (advancing *i), or NULL when this argv
 * entry is not `flag`; sets *missing when the flag is there but its value is not. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag, int *missing)
{
    size_t n = strlen(flag);
    const char *a = argv[*i];
    if (strncmp(a, flag, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

int config_from_args(struct cp_config *cfg, struct config_cli *cli, int argc, char **argv,
                     const char *(*getenv_fn)(const char *), char *err, size_t errlen)
{
    const char *config_file = NULL, *listen = NULL;
    int check = 0;
    if (!getenv_fn) getenv_fn = real_getenv;
    /* The caller's struct is either zeroed or holds an earlier configuration: start afresh. */
    config_free(cfg);
    config_defaults(cfg);
    if (cli) cli->check_only = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("cpd %s (plugin ABI %d.%d)\n", CP_VERSION, CP_ABI_MAJOR, CP_ABI_MINOR);
            return 1;
        }
        if (strcmp(a, "--check-config") == 0) {
            check = 1;
        } else if ((v = flag_value(argc, argv, &i, "--config", &missing)) != NULL) {
            config_file = v;
        } else if ((v = flag_value(argc, argv, &i, "--listen", &missing)) != NULL) {
            listen = v;
        } else if (missing) {
            snprintf(err, errlen, "config: %s needs a value; try --help", a);
            return -1;
        } else {
            char q[80];
            cfg_quote(a, q, sizeof q);
            snprintf(err, errlen, "config: unknown %s '%s'; try --help",
                     a[0] == '-' ? "flag" : "argument", q);
            return -1;
        }
    }

    if (config_file && !*config_file) {
        snprintf(err, errlen, "config: --config needs a file name");
        return -1;
    }
    if (!config_file && access(DEFAULT_CONFIG_FILE, F_OK) == 0) config_file = DEFAULT_CONFIG_FILE;
    if (config_file && config_load_yaml_env(cfg, config_file, getenv_fn, err, errlen) != 0)
        return -1;
    if (config_load_env(cfg, getenv_fn, err, errlen) != 0) return -1;
    if (listen && cfg_set(cfg, cfg_key_by_path("listen"), "--listen", listen, "", err, errlen))
        return -1;
    if (config_validate(cfg, err, errlen) != 0) return -1;
    if (cli) cli->check_only = check;
    return 0;
}
