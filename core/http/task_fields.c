/* task_fields.c — a task as POST /tasks describes it, taken apart and checked: the body of a
 * submit, and each item of POST /tasks/batch. Unlike validate.c's getters nothing here replies:
 * a batch reports each item's error in its place, so the first problem is written into a
 * struct field_error (the same sentences validate.c uses) and the caller decides. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../affinity.h"
#include "../clock.h"
#include "task_fields.h"
#include "validate.h"

#define MAX_AHEAD_S 31536000.0 /* delay_seconds and run_at: at most a year ahead */
#define MAX_BACKOFF_S 86400.0  /* retry_backoff.seconds */
#define MAX_BACKOFF_MAX_S 31536000.0

static int fail(struct field_error *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct field_error *e, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return -1;
}

/* A member's value, or NULL when absent or JSON null (optional members treat null as absent). */
static json_object *value(json_object *v)
{
    return v && !json_object_is_type(v, json_type_null) ? v : NULL;
}

/* The member, looked up (for the members of retry_backoff; the task's own are collected in one
 * pass, see collect()). */
static json_object *member(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v)) return NULL;
    return value(v);
}

static int f_string(json_object *v, const char *key, int required, const char **out,
                    struct field_error *e)
{
    v = value(v);
    *out = NULL;
    if (!v) return required ? fail(e, "missing_field", "%s is required", key) : 0;
    if (!json_object_is_type(v, json_type_string))
        return fail(e, "invalid_field", "%s must be a string", key);
    const char *s = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) != strlen(s))
        return fail(e, "invalid_field", "%s must not contain NUL characters", key);
    *out = s;
    return 0;
}

static int f_number(json_object *v, const char *key, double min, double max, double *out,
                    struct field_error *e)
{
    v = value(v);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return fail(e, "invalid_field", "%s must be a number", key);
    double d = json_object_get_double(v);
    if (!isfinite(d) || d < min || d > max)
        return fail(e, "invalid_field", "%s must be between %g and %g", key, min, max);
    *out = d;
    return 0;
}

static int f_uint(json_object *v, const char *key, uint64_t min, uint64_t max, uint32_t *out,
                  struct field_error *e)
{
    v = value(v);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_int))
        return fail(e, "invalid_field", "%s must be an integer", key);
    int64_t i = json_object_get_int64(v);
    if (i < (int64_t)min || (uint64_t)i > max)
        return fail(e, "invalid_field", "%s must be an integer from %llu to %llu", key,
                    (unsigned long long)min, (unsigned long long)max);
    *out = (uint32_t)i;
    return 0;
}

static int f_bool(json_object *v, const char *key, int *out, struct field_error *e)
{
    v = value(v);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return fail(e, "invalid_field", "%s must be true or false", key);
    *out = json_object_get_boolean(v);
    return 0;
}

/* Any JSON value (or an object when object_only) as compact text, malloc'd; dflt when absent
 * (has 0; JSON null is the value "null" unless object_only). */
static int f_json(json_object *v, int has, const char *key, int object_only, const char *dflt,
                  char **out, struct field_error *e)
{
    *out = NULL;
    if (!has || (object_only && !v)) {
        if (dflt) *out = xstrdup(dflt);
        return 0;
    }
    if (object_only && !json_object_is_type(v, json_type_object))
        return fail(e, "invalid_field", "%s must be a JSON object", key);
    const char *s = v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE)
                      : "null";
    *out = xstrdup(s);
    return 0;
}

static int f_id_list(json_object *v, const char *key, uint32_t max, struct strlist *out,
                     struct field_error *e)
{
    v = value(v);
    out->items = NULL;
    out->n = 0;
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_array))
        return fail(e, "invalid_field", "%s must be an array of strings", key);
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        json_object *x = json_object_array_get_idx(v, i);
        const char *s = json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
        if (!s || (size_t)json_object_get_string_len(x) != strlen(s))
            return fail(e, "invalid_field", "%s must be an array of strings", key);
        if (!valid_identifier(s))
            return fail(e, "invalid_field",
                        "%s: '%.140s' must be 1-128 characters of A-Z a-z 0-9 . _ : @ / -", key, s);
        if (out->n >= max) return fail(e, "invalid_field", "%s has more than %u entries", key, max);
        out->items = xrealloc(out->items, (out->n + 1) * sizeof *out->items);
        out->items[out->n++] = xstrdup(s);
    }
    strlist_normalize(out);
    return 0;
}

static int f_priority(json_object *v, int32_t *out, struct field_error *e)
{
    v = value(v);
    if (!v) return 0;
    if (json_object_is_type(v, json_type_int)) {
        int64_t p = json_object_get_int64(v);
        if (p >= 0 && p < CP_PRIORITY_COUNT) {
            *out = (int32_t)p;
            return 0;
        }
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        int p = cp_enum_parse(cp_priority_names, CP_PRIORITY_COUNT, s);
        if (p < 0 && strcmp(s, "urgent") == 0) p = CP_PRIORITY_CRITICAL;
        if (p >= 0) {
            *out = p;
            return 0;
        }
    }
    return fail(e, "invalid_field",
                "priority must be critical, high, normal, low (or urgent, or 0-3)");
}

int task_time_parse(const char *s, int64_t *out_ms)
{
    /* RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) */
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) return -1;
    s += 10;
    if (*s != 'T' && *s != 't') return -1;
    s++;
    if (sscanf(s, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8) return -1;
    s += 8;
    int64_t ms = 0;
    if (*s == '.') {
        int digits = 0;
        for (s++; isdigit((unsigned char)*s); s++, digits++)
            if (digits < 3) ms = ms * 10 + (*s - '0');
        if (digits == 0) return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    int offset_min = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int oh, om;
        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
            return -1;
        offset_min = (oh * 60 + om) * (*s == '-' ? -1 : 1);
        s += 6;
    } else {
        return -1;
    }
    if (*s || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) return -1; /* normalised: no such day */
    *out_ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + ms;
    return 0;
}

/* The idempotency key rule: 1-128 bytes of visible ASCII (what an HTTP header value holds). */
static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > 128) return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e) return 0;
    return 1;
}

/* retry_backoff: {"type", "seconds", "max_seconds", "jitter"}; absent keeps the config's. */
static int f_backoff(json_object *v, struct cp_task_view *t, struct field_error *e)
{
    v = value(v);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_object))
        return fail(e, "invalid_field",
                    "retry_backoff must be an object {\"type\", \"seconds\", \"max_seconds\", "
                    "\"jitter\"}");
    json_object_object_foreach(v, k, val)
    {
        (void)val;
        if (strcmp(k, "type") && strcmp(k, "seconds") && strcmp(k, "max_seconds") &&
            strcmp(k, "jitter"))
            return fail(e, "invalid_field",
                        "retry_backoff.%.40s is not known; expected type, seconds, max_seconds, "
                        "jitter",
                        k);
    }
    const char *type = NULL;
    double secs = -1, max_secs = -1;
    int jitter = 0;
    if (f_string(member(v, "type"), "type", 0, &type, e) < 0 ||
        f_number(member(v, "seconds"), "seconds", 0, MAX_BACKOFF_S, &secs, e) < 0 ||
        f_number(member(v, "max_seconds"), "max_seconds", 0.001, MAX_BACKOFF_MAX_S, &max_secs, e) <
            0 ||
        f_bool(member(v, "jitter"), "jitter", &jitter, e) < 0) {
        char inner[sizeof e->msg];
        snprintf(inner, sizeof inner, "%s", e->msg);
        snprintf(e->msg, sizeof e->msg, "retry_backoff.%.280s", inner); /* name the member */
        return -1;
    }
    int ty = type ? cp_enum_parse(cp_backoff_type_names, CP_BACKOFF_TYPE_COUNT, type)
                  : CP_BACKOFF_EXPONENTIAL;
    if (ty < 0)
        return fail(e, "invalid_field", "retry_backoff.type must be none, fixed or exponential");
    if (ty != CP_BACKOFF_NONE && secs < 0)
        return fail(e, "missing_field", "retry_backoff.seconds is required");
    if (ty == CP_BACKOFF_EXPONENTIAL && max_secs < 0) max_secs = 3600;
    if (ty == CP_BACKOFF_EXPONENTIAL && max_secs < secs)
        return fail(e, "invalid_field",
                    "retry_backoff.max_seconds must not be shorter than retry_backoff.seconds");
    t->backoff_type = ty;
    t->backoff_ms = ty == CP_BACKOFF_NONE ? 0 : (int64_t)(secs * 1000.0 + 0.5);
    t->backoff_max_ms = ty == CP_BACKOFF_EXPONENTIAL ? (int64_t)(max_secs * 1000.0 + 0.5) : 0;
    t->backoff_jitter = ty != CP_BACKOFF_NONE && jitter;
    if (ty != CP_BACKOFF_NONE && t->backoff_ms == 0) t->backoff_type = CP_BACKOFF_NONE;
    return 0;
}

/* est_tokens: {"input", "max_output"} (integers, each optional, 0 when absent). */
#define MAX_EST_TOKENS 100000000
static int f_est(json_object *v, struct cp_task_view *t, struct field_error *e)
{
    v = value(v);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_object))
        return fail(e, "invalid_field", "est_tokens must be an object {\"input\", \"max_output\"}");
    json_object_object_foreach(v, k, val)
    {
        (void)val;
        if (strcmp(k, "input") && strcmp(k, "max_output"))
            return fail(e, "invalid_field",
                        "est_tokens.%.40s is not known; expected input, max_output", k);
    }
    uint32_t in = 0, out = 0;
    if (f_uint(member(v, "input"), "est_tokens.input", 0, MAX_EST_TOKENS, &in, e) < 0 ||
        f_uint(member(v, "max_output"), "est_tokens.max_output", 0, MAX_EST_TOKENS, &out, e) < 0)
        return -1;
    t->est_input_tokens = in;
    t->est_output_tokens = out;
    return 0;
}

/* The members a task body may have, collected in one pass over the object (a lookup per
 * member would hash every name; most bodies hold three or four members). */
enum {
    M_TASK_TYPE,
    M_STRATEGY,
    M_PRIORITY,
    M_TIMEOUT,
    M_MAX_RETRIES,
    M_CAPS,
    M_PAYLOAD,
    M_METADATA,
    M_DELAY,
    M_RUN_AT,
    M_KEY,
    M_BACKOFF,
    M_EST,
    M_TENANT,
    M_AFF_KEY,
    M_AFF_TTL,
    M_COUNT
};
static const char *const member_names[M_COUNT] = {"task_type",       "strategy",
                                                  "priority",        "timeout_seconds",
                                                  "max_retries",     "required_capabilities",
                                                  "payload",         "metadata",
                                                  "delay_seconds",   "run_at",
                                                  "idempotency_key", "retry_backoff",
                                                  "est_tokens",      "tenant",
                                                  "affinity_key",    "affinity_ttl_seconds"};

struct members {
    json_object *v[M_COUNT];
    unsigned char has[M_COUNT];
};

static void collect(json_object *obj, struct members *m)
{
    memset(m, 0, sizeof *m);
    json_object_object_foreach(obj, k, val)
    {
        for (int i = 0; i < M_COUNT; i++) {
            if (k[0] == member_names[i][0] && strcmp(k, member_names[i]) == 0) {
                m->v[i] = val;
                m->has[i] = 1;
                break;
            }
        }
    }
}

/* affinity_key and affinity_ttl_seconds (prompt-cache affinity, docs/fleet.md): kept with the
 * task as members of its metadata, so every store carries them as it is; b->metadata is
 * rewritten with them. The TTL defaults to tasks.affinity_ttl_seconds and may not exceed
 * tasks.max_affinity_ttl_seconds; a TTL without a key is refused. */
static int f_affinity(const struct cp_config *cfg, const struct members *m, struct task_body *b,
                      struct field_error *e)
{
    const char *key;
    double max_s = (double)cfg->affinity_max_ttl_ms / 1000.0;
    double ttl_s = (double)cfg->affinity_ttl_ms / 1000.0;
    if (f_string(m->v[M_AFF_KEY], "affinity_key", 0, &key, e) < 0 ||
        f_number(m->v[M_AFF_TTL], "affinity_ttl_seconds", 0.001, max_s, &ttl_s, e) < 0)
        return -1;
    if (!key && value(m->v[M_AFF_TTL]))
        return fail(e, "invalid_field", "affinity_ttl_seconds needs an affinity_key");
    if (!key) return 0;
    if (!affinity_key_valid(key))
        return fail(e, "invalid_field",
                    "affinity_key must be 1-128 characters of A-Z a-z 0-9 . _ : @ / -");
    char *md = affinity_metadata_with(b->metadata, key, ttl_s);
    if (!md) return fail(e, "invalid_field", "metadata must be a JSON object");
    free(b->metadata);
    b->metadata = md;
    return 0;
}

int task_body_parse(const struct cp_config *cfg, json_object *obj, const char *header_key,
                    struct task_body *b, struct field_error *e)
{
    memset(b, 0, sizeof *b);
    struct cp_task_view *t = &b->view;
    const char *type, *strategy, *run_at, *key, *tenant;
    double timeout_s = (double)cfg->task_timeout_ms / 1000.0, delay = -1;
    t->priority = CP_PRIORITY_NORMAL;
    t->max_retries = cfg->max_task_retries;
    t->backoff_type = cfg->backoff_type;
    t->backoff_ms = cfg->backoff_ms;
    t->backoff_max_ms = cfg->backoff_max_ms;
    t->backoff_jitter = cfg->backoff_jitter;
    if (!json_object_is_type(obj, json_type_object))
        return fail(e, "invalid_field", "a task must be a JSON object");
    struct members m;
    collect(obj, &m);
    if (f_string(m.v[M_TASK_TYPE], "task_type", 1, &type, e) < 0) return -1;
    if (!valid_identifier(type))
        return fail(e, "invalid_field",
                    "task_type must be 1-128 characters of A-Z a-z 0-9 . _ : @ / -");
    if (f_string(m.v[M_STRATEGY], "strategy", 0, &strategy, e) < 0 ||
        f_priority(m.v[M_PRIORITY], &t->priority, e) < 0 ||
        f_number(m.v[M_TIMEOUT], "timeout_seconds", 0.001, 31536000, &timeout_s, e) < 0 ||
        f_uint(m.v[M_MAX_RETRIES], "max_retries", 0, 1000, &t->max_retries, e) < 0 ||
        f_id_list(m.v[M_CAPS], "required_capabilities", cfg->max_required_caps, &b->caps, e) < 0 ||
        f_json(m.v[M_PAYLOAD], m.has[M_PAYLOAD], "payload", 0, "{}", &b->payload, e) < 0 ||
        f_json(m.v[M_METADATA], m.has[M_METADATA], "metadata", 1, "{}", &b->metadata, e) < 0 ||
        f_number(m.v[M_DELAY], "delay_seconds", 0, MAX_AHEAD_S, &delay, e) < 0 ||
        f_string(m.v[M_RUN_AT], "run_at", 0, &run_at, e) < 0 ||
        f_string(m.v[M_KEY], "idempotency_key", 0, &key, e) < 0 ||
        f_backoff(m.v[M_BACKOFF], t, e) < 0 || f_est(m.v[M_EST], t, e) < 0 ||
        f_string(m.v[M_TENANT], "tenant", 0, &tenant, e) < 0) {
        task_body_free(b);
        return -1;
    }
    int64_t now = delay > 0 || run_at ? clock_now_ms() : 0;
    if (delay >= 0 && run_at) {
        task_body_free(b);
        return fail(e, "invalid_field", "give delay_seconds or run_at, not both");
    }
    if (delay > 0) t->not_before_ms = now + (int64_t)(delay * 1000.0 + 0.5);
    if (run_at) {
        int64_t at;
        if (task_time_parse(run_at, &at) < 0) {
            task_body_free(b);
            return fail(e, "invalid_field",
                        "run_at must be an ISO 8601 time such as 2026-11-28T18:06:34Z");
        }
        if (at > now + (int64_t)(MAX_AHEAD_S * 1000)) {
            task_body_free(b);
            return fail(e, "invalid_field", "run_at must be at most a year ahead");
        }
        if (at > now) t->not_before_ms = at; /* a moment past: claimable at once */
    }
    if (key && header_key && strcmp(key, header_key) != 0) {
        task_body_free(b);
        return fail(e, "invalid_field",
                    "idempotency_key and the Idempotency-Key header differ; give one");
    }
    if (tenant && !valid_identifier(tenant)) {
        task_body_free(b);
        return fail(e, "invalid_field",
                    "tenant must be 1-128 characters of A-Z a-z 0-9 . _ : @ / -");
    }
    if (!key) key = header_key;
    if (key && !key_ok(key)) {
        task_body_free(b);
        return fail(e, "invalid_field",
                    "idempotency_key must be 1-128 characters of visible ASCII (no spaces)");
    }
    if (f_affinity(cfg, &m, b, e) < 0) {
        task_body_free(b);
        return -1;
    }
    t->size = sizeof *t;
    t->task_type = type;
    t->strategy = strategy;
    t->payload_json = b->payload;
    t->metadata_json = b->metadata;
    t->required_capabilities = (const char *const *)b->caps.items;
    t->n_required = b->caps.n;
    t->timeout_ms = (int64_t)(timeout_s * 1000.0 + 0.5);
    t->idempotency_key = key;
    if (!m.has[M_EST] || !value(m.v[M_EST])) { /* the task type's default (tasks.est_tokens) */
        const struct cfg_est *d = config_est_tokens(cfg, type);
        if (d) t->est_input_tokens = d->input, t->est_output_tokens = d->max_output;
    }
    t->tenant = tenant; /* NULL: the default tenant */
    return 0;
}

void task_body_free(struct task_body *b)
{
    free(b->payload);
    free(b->metadata);
    strlist_free(&b->caps);
    b->payload = b->metadata = NULL;
}
