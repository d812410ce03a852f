/* decode.c — AgentJSON, TaskJSON and HealthJSON (docs/api.md) into the typed result structs,
 * and the functions that free them. Members this library does not know are ignored (they stay
 * reachable through the struct's `json`); a missing identifier is a protocol error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *cpc_json_text(struct json_object *o)
{
    return json_object_to_json_string_ext(o,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

const char *cpc_get_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int64_t cpc_get_i64(struct json_object *o, const char *key, int64_t fallback)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !v) return fallback;
    if (json_object_is_type(v, json_type_int)) return json_object_get_int64(v);
    if (json_object_is_type(v, json_type_double)) return (int64_t)json_object_get_double(v);
    return fallback;
}

double cpc_get_double(struct json_object *o, const char *key, double fallback)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !v) return fallback;
    if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
        return json_object_get_double(v);
    return fallback;
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
    int64_t v = cpc_get_i64(o, key, 0);
    return v > 0 ? (uint64_t)v : 0;
}

static uint32_t get_u32(struct json_object *o, const char *key)
{
    uint64_t v = get_u64(o, key);
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

char *cpc_strdup(const char *s, int *nomem)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *nomem = 1;
    return d;
}

char *cpc_dup_json(struct json_object *o, const char *key, const char *null_text, int *nomem)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !v) return cpc_strdup(null_text, nomem);
    const char *text = cpc_json_text(v);
    if (!text) {
        *nomem = 1;
        return NULL;
    }
    return cpc_strdup(text, nomem);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t cpc_parse_time(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6) return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return 0;
    const char *p = s + n;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3) ms = ms * 10 + (*p - '0');
        for (; digits > 0 && digits < 3; digits++)
            ms *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0) return 0;
    int64_t days = days_from_civil(y, mo, d);
    return ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + ms;
}

static int parse_enum(const char *const *names, int count, const char *s)
{
    return cp_enum_parse(names, count, s);
}

static char **dup_strings(struct json_object *o, const char *key, size_t *n, int *nomem)
{
    struct json_object *a;
    *n = 0;
    if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
        return NULL;
    size_t len = json_object_array_length(a);
    char **v = calloc(len ? len : 1, sizeof *v);
    if (!v) {
        *nomem = 1;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(a, i);
        const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "";
        if (!(v[*n] = strdup(s))) {
            *nomem = 1;
            break;
        }
        (*n)++;
    }
    return v;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void cpc_agent_clear(struct cpc_agent *a)
{
    free(a->agent_id);
    free_strings(a->capabilities, a->n_capabilities);
    free(a->model);
    free(a->provider);
    free(a->metadata_json);
    free(a->health_probe_json);
    free(a->current_task_id);
    free(a->json);
    memset(a, 0, sizeof *a);
}

int cpc_decode_agent(cp_client *c, struct json_object *o, struct cpc_agent *out)
{
    memset(out, 0, sizeof *out);
    const char *id = json_object_is_type(o, json_type_object) ? cpc_get_str(o, "agent_id") : NULL;
    if (!id) return cpc_set_error(c, CPC_ERR_PROTOCOL, "agent object without agent_id");
    int nomem = 0;
    out->agent_id = cpc_strdup(id, &nomem);
    out->capabilities = dup_strings(o, "capabilities", &out->n_capabilities, &nomem);
    out->status =
        parse_enum(cp_agent_status_names, CP_AGENT_STATUS_COUNT, cpc_get_str(o, "status"));
    out->model = cpc_strdup(cpc_get_str(o, "model"), &nomem);
    out->provider = cpc_strdup(cpc_get_str(o, "provider"), &nomem);
    out->metadata_json = cpc_dup_json(o, "metadata", "{}", &nomem);
    out->health_probe_json = cpc_dup_json(o, "health_probe", NULL, &nomem);
    out->registered_at_ms = cpc_parse_time(cpc_get_str(o, "registered_at"));
    out->last_heartbeat_ms = cpc_parse_time(cpc_get_str(o, "last_heartbeat"));
    out->max_concurrent_tasks = get_u32(o, "max_concurrent_tasks");
    out->tasks_in_flight = get_u32(o, "tasks_in_flight");
    out->current_task_id = cpc_strdup(cpc_get_str(o, "current_task_id"), &nomem);
    out->tasks_completed = get_u64(o, "tasks_completed");
    out->tasks_failed = get_u64(o, "tasks_failed");
    out->avg_latency_ms = cpc_get_double(o, "avg_latency_ms", 0);
    out->health = parse_enum(cp_health_names, CP_HEALTH_COUNT, cpc_get_str(o, "health"));
    out->circuit = parse_enum(cp_circuit_names, CP_CIRCUIT_COUNT, cpc_get_str(o, "circuit"));
    out->drained_at_ms = cpc_parse_time(cpc_get_str(o, "drained_at"));
    out->json = cpc_strdup(cpc_json_text(o), &nomem);
    if (nomem || !out->json) {
        cpc_agent_clear(out);
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    }
    return CPC_OK;
}

static int parse_priority(struct json_object *o)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, "priority", &v) || !v) return -1;
    if (json_object_is_type(v, json_type_int)) {
        int64_t p = json_object_get_int64(v);
        return p >= 0 && p < CP_PRIORITY_COUNT ? (int)p : -1;
    }
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    if (s && strcmp(s, "urgent") == 0) return CP_PRIORITY_CRITICAL;
    return parse_enum(cp_priority_names, CP_PRIORITY_COUNT, s);
}

static void free_attempts(struct cpc_attempt *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].agent_id);
        free(v[i].error);
    }
    free(v);
}

/* TaskJSON "attempts": a bad entry (not an object) is skipped, a missing list is none. */
static struct cpc_attempt *dup_attempts(struct json_object *o, size_t *n, int *nomem)
{
    struct json_object *arr = NULL;
    *n = 0;
    if (!json_object_object_get_ex(o, "attempts", &arr) ||
        !json_object_is_type(arr, json_type_array))
        return NULL;
    size_t len = json_object_array_length(arr);
    if (len == 0) return NULL;
    struct cpc_attempt *v = calloc(len, sizeof *v);
    if (!v) {
        *nomem = 1;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        struct json_object *a = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(a, json_type_object)) continue;
        struct cpc_attempt *x = &v[(*n)++];
        x->agent_id = cpc_strdup(cpc_get_str(a, "agent_id"), nomem);
        x->started_at_ms = cpc_parse_time(cpc_get_str(a, "started_at"));
        x->ended_at_ms = cpc_parse_time(cpc_get_str(a, "ended_at"));
        x->outcome = cpc_get_str(a, "outcome")
                         ? parse_enum(cp_attempt_outcome_names, CP_ATTEMPT_OUTCOME_COUNT,
                                      cpc_get_str(a, "outcome"))
                         : -1;
        x->error = cpc_strdup(cpc_get_str(a, "error"), nomem);
    }
    return v;
}

void cpc_task_clear(struct cpc_task *t)
{
    free_attempts(t->attempts, t->n_attempts);
    free(t->progress_json);
    free(t->idempotency_key);
    free(t->tenant);
    free(t->id);
    free(t->task_type);
    free(t->payload_json);
    free_strings(t->required_capabilities, t->n_required);
    free(t->assigned_agent);
    free(t->result_json);
    free(t->error);
    free(t->metadata_json);
    free(t->json);
    memset(t, 0, sizeof *t);
}

int cpc_decode_task(cp_client *c, struct json_object *o, struct cpc_task *out)
{
    memset(out, 0, sizeof *out);
    const char *id = json_object_is_type(o, json_type_object) ? cpc_get_str(o, "id") : NULL;
    if (!id) return cpc_set_error(c, CPC_ERR_PROTOCOL, "task object without id");
    int nomem = 0;
    out->id = cpc_strdup(id, &nomem);
    out->task_type = cpc_strdup(cpc_get_str(o, "task_type"), &nomem);
    out->payload_json = cpc_dup_json(o, "payload", "null", &nomem);
    out->required_capabilities = dup_strings(o, "required_capabilities", &out->n_required, &nomem);
    out->status = parse_enum(cp_task_status_names, CP_TASK_STATUS_COUNT, cpc_get_str(o, "status"));
    out->priority = parse_priority(o);
    out->created_at_ms = cpc_parse_time(cpc_get_str(o, "created_at"));
    out->claimed_at_ms = cpc_parse_time(cpc_get_str(o, "claimed_at"));
    out->started_at_ms = cpc_parse_time(cpc_get_str(o, "started_at"));
    out->completed_at_ms = cpc_parse_time(cpc_get_str(o, "completed_at"));
    out->assigned_agent = cpc_strdup(cpc_get_str(o, "assigned_agent"), &nomem);
    out->timeout_seconds = cpc_get_double(o, "timeout_seconds", 0);
    out->max_retries = get_u32(o, "max_retries");
    out->retries = get_u32(o, "retries");
    out->attempt = get_u32(o, "attempt");
    out->result_json = cpc_dup_json(o, "result", NULL, &nomem);
    out->error = cpc_strdup(cpc_get_str(o, "error"), &nomem);
    out->metadata_json = cpc_dup_json(o, "metadata", "{}", &nomem);
    out->deadline_at_ms = cpc_parse_time(cpc_get_str(o, "deadline_at"));
    out->not_before_ms = cpc_parse_time(cpc_get_str(o, "not_before"));
    out->progress_json = cpc_dup_json(o, "progress", NULL, &nomem);
    out->attempts = dup_attempts(o, &out->n_attempts, &nomem);
    out->idempotency_key = cpc_strdup(cpc_get_str(o, "idempotency_key"), &nomem);
    out->tenant = cpc_strdup(cpc_get_str(o, "tenant"), &nomem);
    out->json = cpc_strdup(cpc_json_text(o), &nomem);
    if (nomem || !out->json) {
        cpc_task_clear(out);
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    }
    return CPC_OK;
}

void cpc_health_clear(struct cpc_health *h)
{
    free(h->agent_id);
    free(h->error);
    free(h->probe);
    free(h->json);
    memset(h, 0, sizeof *h);
}

int cpc_decode_health(cp_client *c, const char *agent_id, struct json_object *o,
                      struct cpc_health *out)
{
    memset(out, 0, sizeof *out);
    if (!json_object_is_type(o, json_type_object))
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "health of %s is not an object", agent_id);
    int nomem = 0;
    out->agent_id = cpc_strdup(agent_id, &nomem);
    out->status = parse_enum(cp_health_names, CP_HEALTH_COUNT, cpc_get_str(o, "status"));
    out->last_check_ms = cpc_parse_time(cpc_get_str(o, "last_check"));
    out->consecutive_failures = get_u32(o, "consecutive_failures");
    out->consecutive_successes = get_u32(o, "consecutive_successes");
    out->latency_ms = cpc_get_double(o, "latency_ms", -1);
    out->error = cpc_strdup(cpc_get_str(o, "error"), &nomem);
    out->probe = cpc_strdup(cpc_get_str(o, "probe"), &nomem);
    struct json_object *circ = NULL;
    out->circuit = -1;
    if (json_object_object_get_ex(o, "circuit", &circ) &&
        json_object_is_type(circ, json_type_object)) {
        out->circuit = parse_enum(cp_circuit_names, CP_CIRCUIT_COUNT, cpc_get_str(circ, "state"));
        out->circuit_failures = get_u32(circ, "failures");
        out->circuit_opened_at_ms = cpc_parse_time(cpc_get_str(circ, "opened_at"));
        out->circuit_retry_at_ms = cpc_parse_time(cpc_get_str(circ, "retry_at"));
    } else if (circ && json_object_is_type(circ, json_type_string)) {
        out->circuit = parse_enum(cp_circuit_names, CP_CIRCUIT_COUNT, json_object_get_string(circ));
    }
    out->json = cpc_strdup(cpc_json_text(o), &nomem);
    if (nomem || !out->json) {
        cpc_health_clear(out);
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    }
    return CPC_OK;
}

void cp_client_agent_free(struct cpc_agent *a)
{
    if (!a) return;
    cpc_agent_clear(a);
    free(a);
}

void cp_client_agent_list_free(struct cpc_agent_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++)
        cpc_agent_clear(&l->agents[i]);
    free(l->agents);
    free(l->json);
    free(l->next);
    free(l);
}

void cp_client_task_free(struct cpc_task *t)
{
    if (!t) return;
    cpc_task_clear(t);
    free(t);
}

void cp_client_task_list_free(struct cpc_task_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++)
        cpc_task_clear(&l->tasks[i]);
    free(l->tasks);
    free(l->json);
    free(l);
}

void cp_client_health_free(struct cpc_health *h)
{
    if (!h) return;
    cpc_health_clear(h);
    free(h);
}

void cp_client_system_health_free(struct cpc_system_health *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n_agents; i++)
        cpc_health_clear(&h->agents[i]);
    free(h->agents);
    free(h->json);
    free(h->next);
    free(h);
}
