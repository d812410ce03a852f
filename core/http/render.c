/* render.c — JSON text for agents, tasks and health, written straight into an evbuffer.
 * Stored JSON texts (payload, result, metadata) were produced by json-c from validated input,
 * so they are embedded as they are. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../clock.h"
#include "render.h"

void render_string(struct evbuffer *b, const char *s)
{
    if (!s) {
        evbuffer_add(b, "null", 4);
        return;
    }
    evbuffer_add(b, "\"", 1);
    const char *run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *esc = NULL;
        char tmp[8];
        switch (*p) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (*p < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", *p);
                esc = tmp;
            }
        }
        if (!esc) continue;
        evbuffer_add(b, run, (size_t)((const char *)p - run));
        evbuffer_add(b, esc, strlen(esc));
        run = (const char *)p + 1;
    }
    evbuffer_add(b, run, strlen(run));
    evbuffer_add(b, "\"", 1);
}

void render_time(struct evbuffer *b, int64_t ms)
{
    if (ms <= 0) {
        evbuffer_add(b, "null", 4);
        return;
    }
    char iso[32];
    clock_format_iso(ms, iso, sizeof iso);
    size_t n = strlen(iso);
    memmove(iso + 1, iso, n);
    iso[0] = '"';
    iso[n + 1] = '"';
    evbuffer_add(b, iso, n + 2);
}

static void render_u64(struct evbuffer *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    evbuffer_add(b, tmp + i, sizeof tmp - i);
}

void render_number(struct evbuffer *b, double v)
{
    if (!isfinite(v)) v = 0;
    if (v == floor(v) && v >= 0 && v < 1e15)
        render_u64(b, (uint64_t)v);
    else if (v == floor(v) && fabs(v) < 1e15)
        evbuffer_add_printf(b, "%.0f", v);
    else
        evbuffer_add_printf(b, "%.3f", v);
}

/* The hot path (GET /agents/:id, claims) renders many keys and integers: plain appends and a
 * small integer formatter instead of printf. */
static void key(struct evbuffer *b, const char *k, int first)
{
    char tmp[64];
    size_t n = strlen(k), off = 0;
    if (n + 4 > sizeof tmp) n = sizeof tmp - 4;
    if (!first) tmp[off++] = ',';
    tmp[off++] = '"';
    memcpy(tmp + off, k, n);
    off += n;
    tmp[off++] = '"';
    tmp[off++] = ':';
    evbuffer_add(b, tmp, off);
}


static void render_list(struct evbuffer *b, const char *const *items, uint32_t n)
{
    evbuffer_add(b, "[", 1);
    for (uint32_t i = 0; i < n; i++) {
        if (i) evbuffer_add(b, ",", 1);
        render_string(b, items[i]);
    }
    evbuffer_add(b, "]", 1);
}

static void raw_or(struct evbuffer *b, const char *json, const char *dflt)
{
    const char *s = json ? json : dflt;
    evbuffer_add(b, s, strlen(s));
}

void render_agent(struct evbuffer *b, const struct cp_agent_view *a)
{
    evbuffer_add(b, "{", 1);
    key(b, "agent_id", 1), render_string(b, a->agent_id);
    key(b, "capabilities", 0), render_list(b, a->capabilities, a->n_capabilities);
    key(b, "status", 0), render_string(b, cp_agent_status_name(a->status));
    key(b, "model", 0), render_string(b, a->model);
    key(b, "provider", 0), render_string(b, a->provider);
    key(b, "metadata", 0), raw_or(b, a->metadata_json, "{}");
    key(b, "registered_at", 0), render_time(b, a->registered_at_ms);
    key(b, "last_heartbeat", 0), render_time(b, a->last_heartbeat_ms);
    key(b, "max_concurrent_tasks", 0), render_u64(b, a->max_concurrent_tasks);
    key(b, "tasks_in_flight", 0), render_u64(b, a->tasks_in_flight);
    key(b, "current_task_id", 0), render_string(b, a->current_task_id);
    key(b, "tasks_completed", 0), render_u64(b, a->tasks_completed);
    key(b, "tasks_failed", 0), render_u64(b, a->tasks_failed);
    key(b, "avg_latency_ms", 0);
    render_number(b, a->latency_count ? a->latency_sum_ms / (double)a->latency_count : 0);
    key(b, "health", 0), render_string(b, cp_health_name(a->health.status));
    key(b, "circuit", 0), render_string(b, cp_circuit_name(a->health.circuit));
    key(b, "health_probe", 0), raw_or(b, a->health_probe_json, "null");
    evbuffer_add(b, "}", 1);
}

void render_task(struct evbuffer *b, const struct cp_task_view *t)
{
    evbuffer_add(b, "{", 1);
    key(b, "id", 1), render_string(b, t->id);
    key(b, "task_type", 0), render_string(b, t->task_type);
    key(b, "payload", 0), raw_or(b, t->payload_json, "{}");
    key(b, "required_capabilities", 0), render_list(b, t->required_capabilities, t->n_required);
    key(b, "status", 0), render_string(b, cp_task_status_name(t->status));
    key(b, "priority", 0), render_string(b, cp_priority_name(t->priority));
    key(b, "created_at", 0), render_time(b, t->created_at_ms);
    key(b, "claimed_at", 0), render_time(b, t->claimed_at_ms);
    key(b, "started_at", 0), render_time(b, t->started_at_ms);
    key(b, "completed_at", 0), render_time(b, t->completed_at_ms);
    key(b, "assigned_agent", 0), render_string(b, t->assigned_agent);
    key(b, "timeout_seconds", 0), render_number(b, (double)t->timeout_ms / 1000.0);
    key(b, "max_retries", 0), render_u64(b, t->max_retries);
    key(b, "retries", 0), render_u64(b, t->retries);
    key(b, "attempt", 0), render_u64(b, t->attempt);
    key(b, "result", 0), raw_or(b, t->result_json, "null");
    key(b, "error", 0), render_string(b, t->error);
    key(b, "metadata", 0), raw_or(b, t->metadata_json, "{}");
    key(b, "strategy", 0), render_string(b, t->strategy);
    evbuffer_add(b, "}", 1);
}

void render_health(struct evbuffer *b, const struct cp_agent_view *a)
{
    const struct cp_health_view *h = &a->health;
    const char *probe_type = NULL;
    char type[64] = "";
    /* The probe's type, from the stored {"type": "..."} object, without a JSON parse. */
    if (a->health_probe_json) {
        const char *p = strstr(a->health_probe_json, "\"type\"");
        if (p && (p = strchr(p + 6, '"')) && sscanf(p, "\"%63[^\"]\"", type) == 1)
            probe_type = type;
    }
    evbuffer_add(b, "{", 1);
    key(b, "status", 1), render_string(b, cp_health_name(h->status));
    key(b, "last_check", 0), render_time(b, h->last_check_ms);
    key(b, "consecutive_failures", 0), render_u64(b, h->consecutive_failures);
    key(b, "consecutive_successes", 0), render_u64(b, h->consecutive_successes);
    key(b, "latency_ms", 0);
    if (h->latency_ms < 0 || h->last_check_ms <= 0)
        evbuffer_add(b, "null", 4);
    else
        render_number(b, h->latency_ms);
    key(b, "error", 0), render_string(b, h->error);
    key(b, "probe", 0), render_string(b, probe_type);
    key(b, "circuit", 0);
    evbuffer_add(b, "{", 1);
    key(b, "state", 1), render_string(b, cp_circuit_name(h->circuit));
    key(b, "failures", 0), render_u64(b, h->circuit_failures);
    key(b, "opened_at", 0), render_time(b, h->opened_at_ms);
    key(b, "retry_at", 0), render_time(b, h->retry_at_ms);
    evbuffer_add(b, "}}", 2);
}
