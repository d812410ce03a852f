/* health_probe.c — one agent's health probe: checks the registered "health_probe" object,
 * runs the probe plugin's start() on a repeating timer (never two checks at once for one agent),
 * cancels a check that overruns its timeout, and hands every result to the monitor (health.c).
 * The probe owns its parsed object; the spec's items point into it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include <cp/probe.h>

#include "clock.h"
#include "core.h"
#include "health_internal.h"
#include "log.h"
#include "plugin_loader.h"

#define FIRST_PROBE_DELAY_MS 100 /* after (re-)registration */
#define MIN_INTERVAL_MS 100      /* shorter intervals run at this pace */
#define MAX_PROBE_SECONDS 86400  /* for interval_seconds / timeout_seconds */
#define PROBE_GRACE_MS 1000      /* a check this far past its timeout is cancelled as failed */

struct health_probe {
    struct health_slot *slot; /* NULL when orphaned: stopped in flight, no cancel() */
    struct plugin *plugin;
    const struct cp_probe_ops *ops;
    struct json_object *obj; /* the parsed health_probe object; items point into it */
    struct cp_kv *items;
    struct cp_probe_spec spec;
    const char *type;
    int64_t interval_ms;
    int default_interval, default_timeout; /* not set in the object: follow the config */
    struct event *ev;
    void *handle;
    int in_flight, starting;
    int64_t started_ms;
    /* A done() that arrives from inside start() (against the probe contract) is kept here and
     * handled once start() has returned. */
    int early, early_ok;
    double early_latency;
    char early_error[256];
};

static void probe_schedule(struct health_probe *p, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(p->ev, &tv);
}

/* Hand one result to the monitor. It may free p (the agent is gone): the caller's last act. */
static void probe_record(struct health_probe *p, int ok, double latency_ms, const char *error)
{
    health_slot_probe_result(p->slot, p->type, ok, latency_ms, error);
}

static void probe_done(void *cookie, int ok, double latency_ms, const char *error)
{
    struct health_probe *p = cookie;
    if (!p->slot) { /* stopped while in flight by a plugin without cancel() */
        health_probe_free(p);
        return;
    }
    if (p->starting) {
        p->early = 1;
        p->early_ok = ok;
        p->early_latency = latency_ms;
        snprintf(p->early_error, sizeof p->early_error, "%s", error ? error : "");
        return;
    }
    p->in_flight = 0;
    p->handle = NULL;
    probe_record(p, ok, latency_ms, error);
}

static void probe_start(struct health_probe *p)
{
    struct cp_err err = {{0}};
    void *handle = NULL;
    p->in_flight = 1;
    p->starting = 1;
    p->early = 0;
    p->started_ms = clock_now_ms();
    int rc = p->ops->start(p->plugin->state, &p->spec, probe_done, p, &handle, &err);
    p->starting = 0;
    if (p->early) {
        p->in_flight = 0;
        probe_record(p, p->early_ok, p->early_latency, p->early_error);
    } else if (rc != 0) {
        p->in_flight = 0;
        probe_record(p, 0, 0, err.msg[0] ? err.msg : "the probe could not start");
    } else {
        p->handle = handle;
    }
}

static void probe_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct health_probe *p = arg;
    int64_t now = clock_now_ms();
    probe_schedule(p, p->interval_ms); /* first: the result below may free p */
    if (!p->in_flight) {
        probe_start(p);
        return;
    }
    /* Never overlap one agent's probes. A plugin that broke its promise to report by the
     * timeout is cancelled and the attempt counted as a failure. */
    if (!p->ops->cancel || now - p->started_ms <= (int64_t)p->spec.timeout_ms + PROBE_GRACE_MS)
        return;
    p->ops->cancel(p->plugin->state, p->handle);
    p->in_flight = 0;
    p->handle = NULL;
    probe_record(p, 0, (double)(now - p->started_ms),
                 "the probe did not report within its timeout");
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
    if (p->in_flight && !p->starting) {
        if (!p->ops->cancel) {
            p->slot = NULL; /* orphan: probe_done() frees it */
            return;
        }
        p->ops->cancel(p->plugin->state, p->handle);
    }
    json_object_put(p->obj);
    free(p->items);
    free(p);
}

/* ---- the health_probe object ----------------------------------------------------------- */

/* A probe object checked and taken apart; items point into obj. */
struct probe_cfg {
    struct plugin *plugin;
    const char *type;
    int64_t interval_ms, timeout_ms;
    struct cp_kv *items; /* malloc'd */
    size_t n_items;
};

static int probe_seconds(struct json_object *obj, const char *key, int64_t def_ms, int64_t *out,
                         char *err, size_t errlen)
{
    struct json_object *v = NULL;
    *out = def_ms;
    if (!json_object_object_get_ex(obj, key, &v) || !v) return 0; /* absent or null: default */
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
        snprintf(err, errlen, "health_probe.%s must be a number of seconds", key);
        return -1;
    }
    double d = json_object_get_double(v);
    if (!isfinite(d) || d <= 0 || d > MAX_PROBE_SECONDS) {
        snprintf(err, errlen, "health_probe.%s must be greater than 0 and at most %d seconds", key,
                 MAX_PROBE_SECONDS);
        return -1;
    }
    *out = (int64_t)llround(d * 1000.0);
    if (*out < 1) *out = 1;
    return 0;
}

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

static int probe_parse(struct cp_core *core, struct json_object *obj, struct probe_cfg *pc,
                       char *err, size_t errlen)
{
    const struct cp_config *cfg = core->cfg;
    struct json_object *t = NULL;
    memset(pc, 0, sizeof *pc);
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        snprintf(err, errlen, "health_probe must be an object with a \"type\"");
        return -1;
    }
    if (!json_object_object_get_ex(obj, "type", &t) || !t) {
        snprintf(err, errlen, "health_probe.type is required (the name of a probe plugin)");
        return -1;
    }
    if (!json_object_is_type(t, json_type_string)) {
        snprintf(err, errlen, "health_probe.type must be a string");
        return -1;
    }
    pc->type = json_object_get_string(t);
    if (strcmp(pc->type, "exec") == 0 && !cfg->exec_probe_enabled) {
        snprintf(err, errlen,
                 "health_probe.type \"exec\" is disabled by the server's config "
                 "(probes.exec.enabled: false): it would let a registering client run commands");
        return -1;
    }
    pc->plugin = plugin_find(&core->plugins, CP_PLUGIN_PROBE, pc->type);
    if (!pc->plugin || !pc->plugin->ops || !((const struct cp_probe_ops *)pc->plugin->ops)->start) {
        char names[160];
        probe_names(&core->plugins, names, sizeof names);
        snprintf(err, errlen,
                 "health_probe.type \"%.64s\" is not a loaded probe plugin (loaded: %s)", pc->type,
                 names);
        return -1;
    }
    if (probe_seconds(obj, "interval_seconds", cfg->probe_interval_ms, &pc->interval_ms, err,
                      errlen) < 0 ||
        probe_seconds(obj, "timeout_seconds", cfg->probe_timeout_ms, &pc->timeout_ms, err, errlen) <
            0)
        return -1;
    size_t n = (size_t)json_object_object_length(obj);
    pc->items = calloc(n ? n : 1, sizeof *pc->items);
    if (!pc->items) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_object_object_foreach(obj, key, val)
    {
        pc->items[pc->n_items].key = key;
        pc->items[pc->n_items].value =
            json_object_is_type(val, json_type_string)
                ? json_object_get_string(val)
                : json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
        pc->n_items++;
    }
    return 0;
}

/* The plugin's own validate(), with the spec it will later get. */
static int probe_plugin_validate(const struct probe_cfg *pc, const struct cp_probe_spec *spec,
                                 char *err, size_t errlen)
{
    const struct cp_probe_ops *ops = pc->plugin->ops;
    struct cp_err e = {{0}};
    if (!ops->validate || ops->validate(pc->plugin->state, spec, &e) == 0) return 0;
    snprintf(err, errlen, "%s", e.msg[0] ? e.msg : "health_probe is not valid for this type");
    return -1;
}

int health_probe_validate(struct cp_core *core, struct json_object *probe, char *err, size_t errlen)
{
    struct probe_cfg pc;
    if (probe_parse(core, probe, &pc, err, errlen) < 0) return -1;
    struct cp_probe_spec spec = {"", pc.items, pc.n_items, (uint64_t)pc.timeout_ms};
    int rc = probe_plugin_validate(&pc, &spec, err, errlen);
    free(pc.items);
    return rc;
}

struct health_probe *health_probe_new(struct cp_core *core, struct health_slot *slot,
                                      const char *agent_id, const char *json)
{
    char err[256];
    struct probe_cfg pc;
    struct health_probe *p = calloc(1, sizeof *p);
    if (!p) goto fail_nomem;
    p->obj = json_tokener_parse(json);
    if (probe_parse(core, p->obj, &pc, err, sizeof err) < 0) goto fail;
    p->items = pc.items;
    p->slot = slot;
    p->plugin = pc.plugin;
    p->ops = pc.plugin->ops;
    p->type = pc.type;
    p->interval_ms = pc.interval_ms < MIN_INTERVAL_MS ? MIN_INTERVAL_MS : pc.interval_ms;
    p->default_interval = !json_object_object_get_ex(p->obj, "interval_seconds", NULL);
    p->default_timeout = !json_object_object_get_ex(p->obj, "timeout_seconds", NULL);
    p->spec.agent_id = agent_id;
    p->spec.items = pc.items;
    p->spec.n_items = pc.n_items;
    p->spec.timeout_ms = (uint64_t)pc.timeout_ms;
    if (probe_plugin_validate(&pc, &p->spec, err, sizeof err) < 0) goto fail;
    if (!core->base) {
        snprintf(err, sizeof err, "no event loop to run probes on");
        goto fail;
    }
    if (!(p->ev = evtimer_new(core->base, probe_fire, p))) goto fail_nomem;
    probe_schedule(p, FIRST_PROBE_DELAY_MS);
    return p;
fail_nomem:
    snprintf(err, sizeof err, "out of memory");
fail:
    log_warn("health: agent %s: not probing: %s", agent_id, err);
    if (p) health_probe_free(p);
    return NULL;
}
