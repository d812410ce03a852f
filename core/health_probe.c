/* health_probe.c — one agent's health probe: checks a probe definition (probe_def.h) against
 * the loaded probe plugins, runs one check at a time on a repeating timer through probe_host.c
 * (which enforces the check's deadline and delivers its outcome from the loop), and hands every
 * result to its owner's callback. The probe owns its definition; the spec's items point into
 * it. */
#include "health_probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <cp/probe.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "plugin_loader.h"
#include "probe_host.h"
#include "xalloc.h"

#define FIRST_PROBE_DELAY_MS 100 /* after (re-)registration */
#define MIN_INTERVAL_MS 100      /* shorter intervals run at this pace */

struct health_probe {
    probe_result_cb cb;
    void *arg;
    struct plugin *plugin;
    const struct cp_probe_ops *ops;
    struct probe_def def; /* owned; spec.items point into it */
    struct cp_probe_spec spec;
    const char *type;
    int64_t interval_ms;
    int default_interval, default_timeout; /* not set in the object: follow the config */
    struct event *ev;
    struct probe_run *run; /* the check in flight, or NULL */
};

static void probe_schedule(struct health_probe *p, int64_t ms)
{
    struct timeval tv = cp_ms_to_timeval(ms);
    evtimer_add(p->ev, &tv);
}

/* Hand one result to the owner. It may free p (the agent is gone): the caller's last act. */
static void probe_record(struct health_probe *p, int ok, double latency_ms, const char *error)
{
    p->cb(p->arg, p->type, ok, latency_ms, error);
}

static void probe_done(void *cookie, int ok, double latency_ms, const char *error)
{
    struct health_probe *p = cookie;
    p->run = NULL;
    probe_record(p, ok, latency_ms, error);
}

static void probe_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct health_probe *p = arg;
    probe_schedule(p, p->interval_ms); /* first: the result below may free p */
    if (p->run) return; /* never overlap one agent's checks; the run's deadline ends it */
    char err[256];
    p->run = probe_run_start(event_get_base(p->ev), p->ops, p->plugin->state, &p->spec, probe_done,
                             p, err, sizeof err);
    if (!p->run) probe_record(p, 0, 0, err);
}

void health_probe_apply_config(struct health_probe *p, struct cp_core *core)
{
    const struct cp_config *cfg = core->cfg;
    int64_t interval =
        cfg->probe_interval_ms < MIN_INTERVAL_MS ? MIN_INTERVAL_MS : cfg->probe_interval_ms;
    if (p->default_interval && interval != p->interval_ms) {
        p->interval_ms = interval;
        if (p->ev) probe_schedule(p, interval); /* not the old interval's wait first */
    }
    if (p->default_timeout) p->spec.timeout_ms = (uint64_t)cfg->probe_timeout_ms;
}

void health_probe_free(struct health_probe *p)
{
    if (p->ev) event_free(p->ev);
    p->ev = NULL;
    probe_run_cancel(p->run);
    probe_def_clear(&p->def);
    free(p);
}

/* ---- the definition ------------------------------------------------------------------ */

static void probe_names(const struct plugin_set *set, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; set && i < set->n && used < len; i++) {
        const struct plugin *pl = set->items[i];
        if (!pl || !pl->desc || pl->desc->kind != CP_PLUGIN_PROBE) continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", pl->desc->name);
        if (n < 0) break;
        used += (size_t)n;
    }
    if (!buf[0]) snprintf(buf, len, "none");
}

/* The plugin that runs def, or NULL with err set. */
static struct plugin *probe_plugin(struct cp_core *core, const struct probe_def *def, char *err,
                                   size_t errlen)
{
    if (!def->type) {
        snprintf(err, errlen, "health_probe.type is required (the name of a probe plugin)");
        return NULL;
    }
    if (strcmp(def->type, "exec") == 0 && !core->cfg->exec_probe_enabled) {
        snprintf(err, errlen,
                 "health_probe.type \"exec\" is disabled by the server's config "
                 "(probes.exec.enabled: false): it would let a registering client run commands");
        return NULL;
    }
    struct plugin *pl = plugin_find(&core->plugins, CP_PLUGIN_PROBE, def->type);
    if (!pl || !pl->ops || !((const struct cp_probe_ops *)pl->ops)->start) {
        char names[160];
        probe_names(&core->plugins, names, sizeof names);
        snprintf(err, errlen,
                 "health_probe.type \"%.64s\" is not a loaded probe plugin (loaded: %s)", def->type,
                 names);
        return NULL;
    }
    return pl;
}

static uint64_t timeout_of(struct cp_core *core, const struct probe_def *def)
{
    return (uint64_t)(def->timeout_ms > 0 ? def->timeout_ms : core->cfg->probe_timeout_ms);
}

/* The plugin's own validate(), with the spec it will later get. */
static int probe_plugin_validate(struct plugin *pl, const struct cp_probe_spec *spec, char *err,
                                 size_t errlen)
{
    const struct cp_probe_ops *ops = pl->ops;
    struct cp_err e = {{0}};
    if (!ops->validate || ops->validate(pl->state, spec, &e) == 0) return 0;
    snprintf(err, errlen, "%s", e.msg[0] ? e.msg : "health_probe is not valid for this type");
    return -1;
}

int health_probe_check(struct cp_core *core, const struct probe_def *def, char *err, size_t errlen)
{
    struct plugin *pl = probe_plugin(core, def, err, errlen);
    if (!pl) return -1;
    struct cp_probe_spec spec = {"", def->items, def->n_items, timeout_of(core, def)};
    return probe_plugin_validate(pl, &spec, err, errlen);
}

struct health_probe *health_probe_new(struct cp_core *core, const char *agent_id,
                                      struct probe_def *def, probe_result_cb cb, void *arg)
{
    char err[256];
    struct health_probe *p = xcalloc(1, sizeof *p);
    p->def = *def; /* taken */
    *def = (struct probe_def){0};
    p->cb = cb;
    p->arg = arg;
    if (!(p->plugin = probe_plugin(core, &p->def, err, sizeof err))) goto fail;
    p->ops = p->plugin->ops;
    p->type = p->def.type;
    int64_t interval = p->def.interval_ms > 0 ? p->def.interval_ms : core->cfg->probe_interval_ms;
    p->interval_ms = interval < MIN_INTERVAL_MS ? MIN_INTERVAL_MS : interval;
    p->default_interval = p->def.interval_ms <= 0;
    p->default_timeout = p->def.timeout_ms <= 0;
    p->spec.agent_id = agent_id;
    p->spec.items = p->def.items;
    p->spec.n_items = p->def.n_items;
    p->spec.timeout_ms = timeout_of(core, &p->def);
    if (probe_plugin_validate(p->plugin, &p->spec, err, sizeof err) < 0) goto fail;
    if (!core->base) {
        snprintf(err, sizeof err, "no event loop to run probes on");
        goto fail;
    }
    p->ev = xevtimer_new(core->base, probe_fire, p);
    probe_schedule(p, FIRST_PROBE_DELAY_MS);
    return p;
fail:
    log_warn("health: agent %s: not probing: %s", agent_id, err);
    health_probe_free(p);
    return NULL;
}
