/* reload.c — SIGHUP: read the configuration file and the environment again, check all of it,
 * and apply what a running process can change (tokens, log level, timeouts, thresholds, probe
 * defaults, limits, retention) without touching connections, held claims or the store. What
 * needs a restart (listen, storage, plugins) is named and left as it runs. A configuration that
 * does not pass keeps the running one, with one error line. */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "health.h"
#include "http/http.h"
#include "log.h"
#include "reload.h"

#define ERRLEN 512

void core_reload(struct cp_core *core, int argc, char **argv)
{
    struct cp_config next;
    char err[ERRLEN] = "", restart[512], changed[4096];
    memset(&next, 0, sizeof next);
    log_info("SIGHUP: reloading the configuration%s%s", core->cfg->config_path ? " from " : "",
             core->cfg->config_path ? core->cfg->config_path : "");
    int rc = config_from_args(&next, NULL, argc, argv, NULL, err, sizeof err);
    if (rc == 0 && config_reload_plan(core->cfg, &next, restart, sizeof restart) != 0) {
        snprintf(err, sizeof err, "out of memory");
        rc = -1;
    }
    if (rc == 0 && config_validate(&next, err, sizeof err) != 0) rc = -1;
    if (rc == 0 && !plugin_find(&core->plugins, CP_PLUGIN_SELECTION, next.selection_default)) {
        snprintf(err, sizeof err,
                 "config: selection.default '%s' is not among the loaded selection plugins",
                 next.selection_default);
        rc = -1;
    }
    if (rc != 0) {
        log_error("reload failed, still running on the previous configuration: %s",
                  err[0] ? err : "unexpected arguments");
        config_free(&next);
        return;
    }
    config_reload_apply(core->cfg, &next, changed, sizeof changed);
    config_free(&next);
    log_set_level(core->cfg->log_level);
    health_apply_config(core->health);
    http_server_apply_config(core->http);
    if (restart[0]) log_warn("reload: changed but needs a restart (kept as running): %s", restart);
    log_info("reload: %s%s", changed[0] ? "applied " : "no run-time changes",
             changed[0] ? changed : "");
}
