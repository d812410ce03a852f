/* submit.c — POST /tasks and POST /tasks/batch, safely repeatable: each task carries an
 * idempotency key (the caller's, or one generated before the first attempt), and a submit that
 * failed where the server may have stored it anyway (503, a lost connection, a timeout) is sent
 * again with the same key, so the retry finds the stored task instead of making a second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cp/time.h>

#include "internal.h"

#define MAX_BACKOFF_MS 10000

static int nomem(cp_client *c)
{
    return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
}

void cpc_new_key(char out[40])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* No kernel entropy: time and address still make collisions unlikely for one client. */
        uint64_t a = (uint64_t)cp_monotonic_us() * 0x9e3779b97f4a7c15ull, b = (uintptr_t)out;
        for (int i = 0; i < 8; i++) {
            rnd[i] = (unsigned char)(a >> (8 * i));
            rnd[8 + i] = (unsigned char)((b * 0xbf58476d1ce4e5b9ull) >> (8 * i));
        }
    }
    memcpy(out, "cpc-", 4);
    for (int i = 0; i < 16; i++) {
        out[4 + 2 * i] = hex[rnd[i] >> 4];
        out[5 + 2 * i] = hex[rnd[i] & 15];
    }
    out[36] = '\0';
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int retryable(int err)
{
    return err == CPC_ERR_UNAVAILABLE || err == CPC_ERR_TRANSPORT || err == CPC_ERR_TIMEOUT;
}

/* POST body (JSON text) to path, again after a retryable error while retries are left. */
static int post_retrying(cp_client *c, const char *path, const char *body, int retries,
                         struct json_object **resp)
{
    long wait = c->submit_backoff_ms;
    for (int attempt = 0;; attempt++) {
        int err = cpc_http(c, "POST", path, body, c->timeout_ms, 0, resp, NULL);
        if (err == CPC_OK || attempt >= retries || !retryable(err)) return err;
        sleep_ms(wait);
        wait = wait * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : wait * 2;
    }
}

/* "0".."3" are sent as numbers, as the contract accepts them. */
static struct json_object *priority_value(const char *p)
{
    if (p[0] >= '0' && p[0] <= '9' && p[1] == '\0') return json_object_new_int(p[0] - '0');
    return json_object_new_string(p);
}

/* The JSON object of one task (spec + opt), with `key` as its idempotency_key (NULL: none). */
static int task_object(cp_client *c, const struct cpc_task_spec *spec,
                       const struct cpc_task_options *opt, const struct cpc_task_affinity *aff,
                       const char *key, struct json_object **out)
{
    *out = NULL;
    if (!spec) return cpc_set_error(c, CPC_ERR_INVALID, "no task spec");
    if (aff && !aff->key && aff->ttl_seconds != 0)
        return cpc_set_error(c, CPC_ERR_INVALID, "affinity ttl_seconds needs an affinity key");
    int err = cpc_require(c, "task_type", spec->task_type);
    if (!err)
        err = cpc_check_strings(c, "required_capabilities", spec->required_capabilities,
                                spec->n_required);
    if (err) return err;
    struct json_object *payload = NULL, *meta = NULL;
    if (spec->payload_json &&
        (err = cpc_parse_arg(c, "payload_json", spec->payload_json, &payload)))
        return err;
    if (spec->metadata_json &&
        (err = cpc_parse_arg(c, "metadata_json", spec->metadata_json, &meta))) {
        json_object_put(payload);
        return err;
    }
    int failed = 0;
    struct json_object *body = json_object_new_object();
    cpc_add(body, "task_type", json_object_new_string(spec->task_type), &failed);
    if (spec->payload_json) cpc_add_json(body, "payload", payload, &failed);
    cpc_add(body, "required_capabilities",
            cpc_string_array(spec->required_capabilities, spec->n_required), &failed);
    if (spec->priority) cpc_add(body, "priority", priority_value(spec->priority), &failed);
    if (spec->timeout_seconds != 0)
        cpc_add(body, "timeout_seconds", json_object_new_double(spec->timeout_seconds), &failed);
    if (spec->has_max_retries)
        cpc_add(body, "max_retries", json_object_new_int64(spec->max_retries), &failed);
    if (spec->metadata_json) cpc_add_json(body, "metadata", meta, &failed);
    if (spec->strategy) cpc_add(body, "strategy", json_object_new_string(spec->strategy), &failed);
    if (opt && opt->delay_seconds > 0)
        cpc_add(body, "delay_seconds", json_object_new_double(opt->delay_seconds), &failed);
    if (opt && opt->run_at) cpc_add(body, "run_at", json_object_new_string(opt->run_at), &failed);
    if (opt && opt->backoff_type) {
        struct json_object *b = json_object_new_object();
        cpc_add(b, "type", json_object_new_string(opt->backoff_type), &failed);
        if (strcmp(opt->backoff_type, "none") != 0)
            cpc_add(b, "seconds", json_object_new_double(opt->backoff_seconds), &failed);
        if (opt->backoff_max_seconds > 0)
            cpc_add(b, "max_seconds", json_object_new_double(opt->backoff_max_seconds), &failed);
        if (opt->backoff_jitter) cpc_add(b, "jitter", json_object_new_boolean(1), &failed);
        cpc_add(body, "retry_backoff", b, &failed);
    }
    if (key) cpc_add(body, "idempotency_key", json_object_new_string(key), &failed);
    if (opt && (opt->est_input_tokens || opt->est_max_output)) {
        struct json_object *e = json_object_new_object();
        cpc_add(e, "input", json_object_new_int64(opt->est_input_tokens), &failed);
        cpc_add(e, "max_output", json_object_new_int64(opt->est_max_output), &failed);
        cpc_add(body, "est_tokens", e, &failed);
    }
    if (opt && opt->tenant) cpc_add(body, "tenant", json_object_new_string(opt->tenant), &failed);
    if (aff && aff->key) {
        cpc_add(body, "affinity_key", json_object_new_string(aff->key), &failed);
        if (aff->ttl_seconds != 0)
            cpc_add(body, "affinity_ttl_seconds", json_object_new_double(aff->ttl_seconds),
                    &failed);
    }
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    *out = body;
    return CPC_OK;
}

static const char *text_of(struct json_object *o)
{
    return json_object_to_json_string_ext(o,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

int cp_client_task_submit_affinity(cp_client *c, const struct cpc_task_spec *spec,
                                   const struct cpc_task_options *opt,
                                   const struct cpc_task_affinity *aff, char **task_id,
                                   int *created)
{
    cpc_reset_error(c);
    if (!task_id) return cpc_set_error(c, CPC_ERR_INVALID, "task_id is NULL");
    *task_id = NULL;
    if (created) *created = 0;
    char generated[40];
    const char *key = opt ? opt->idempotency_key : NULL;
    if (!key && c->submit_retries > 0) {
        cpc_new_key(generated);
        key = generated;
    }
    struct json_object *body, *resp = NULL;
    int err = task_object(c, spec, opt, aff, key, &body);
    if (err) return err;
    const char *text = text_of(body);
    err = text ? post_retrying(c, "/tasks", text, c->submit_retries, &resp) : nomem(c);
    if (err == CPC_ERR_SERVER && key == generated && strcmp(c->code, "not_supported") == 0 &&
        strstr(c->message, "idempotency")) {
        /* A store that keeps no keys: the 501 stored nothing; once more without the key (and
         * without retries, which only a key makes safe). */
        json_object_object_del(body, "idempotency_key");
        text = text_of(body);
        err = text ? cpc_http(c, "POST", "/tasks", text, c->timeout_ms, 0, &resp, NULL) : nomem(c);
    }
    json_object_put(body);
    if (err) return err;
    const char *id = cpc_get_str(resp, "task_id");
    if (!id)
        err = cpc_set_error(c, CPC_ERR_PROTOCOL, "answer without task_id");
    else if (!(*task_id = strdup(id)))
        err = nomem(c);
    else if (created)
        *created = c->last_status == 201;
    json_object_put(resp);
    return err;
}

int cp_client_task_submit_ex(cp_client *c, const struct cpc_task_spec *spec,
                             const struct cpc_task_options *opt, char **task_id, int *created)
{
    return cp_client_task_submit_affinity(c, spec, opt, NULL, task_id, created);
}

int cp_client_task_submit(cp_client *c, const struct cpc_task_spec *spec, char **task_id)
{
    return cp_client_task_submit_ex(c, spec, NULL, task_id, NULL);
}

/* ---- batches ---- */

void cp_client_batch_result_free(struct cpc_batch_result *r)
{
    if (!r) return;
    for (size_t i = 0; r->items && i < r->n; i++) {
        free(r->items[i].task_id);
        free(r->items[i].error);
        free(r->items[i].code);
    }
    free(r->items);
    free(r->json);
    free(r);
}

static int decode_batch(cp_client *c, struct json_object *resp, size_t n,
                        struct cpc_batch_result **out)
{
    struct json_object *arr = NULL;
    if (!json_object_object_get_ex(resp, "results", &arr) ||
        !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) != n)
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "answer without %zu results", n);
    struct cpc_batch_result *r = calloc(1, sizeof *r);
    int no = 0;
    if (!r || !(r->items = calloc(n, sizeof *r->items))) {
        cp_client_batch_result_free(r);
        return nomem(c);
    }
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        struct json_object *it = json_object_array_get_idx(arr, i);
        struct cpc_batch_item *x = &r->items[i];
        x->task_id = cpc_strdup(cpc_get_str(it, "task_id"), &no);
        x->error = cpc_strdup(cpc_get_str(it, "error"), &no);
        x->code = cpc_strdup(cpc_get_str(it, "code"), &no);
        struct json_object *cr = NULL;
        x->created = json_object_object_get_ex(it, "created", &cr) && json_object_get_boolean(cr);
        if (!x->task_id)
            r->failed++;
        else if (x->created)
            r->created++;
        else
            r->existing++;
    }
    r->json = cpc_strdup(cpc_json_text(resp), &no);
    if (no) {
        cp_client_batch_result_free(r);
        return nomem(c);
    }
    *out = r;
    return CPC_OK;
}

/* POST /tasks/batch with {"tasks": arr} (consumed); retried as a submit. */
static int send_batch(cp_client *c, struct json_object *arr, size_t n,
                      struct cpc_batch_result **out)
{
    int failed = 0;
    struct json_object *body = json_object_new_object(), *resp = NULL;
    cpc_add(body, "tasks", arr, &failed);
    if (failed) {
        json_object_put(body);
        return nomem(c);
    }
    const char *text = text_of(body);
    int err = text ? post_retrying(c, "/tasks/batch", text, c->submit_retries, &resp) : nomem(c);
    json_object_put(body);
    if (!err) err = decode_batch(c, resp, n, out);
    json_object_put(resp);
    return err;
}

static int batch_start(cp_client *c, size_t n, struct cpc_batch_result **out,
                       struct json_object **arr)
{
    cpc_reset_error(c);
    if (!out) return cpc_set_error(c, CPC_ERR_INVALID, "out is NULL");
    *out = NULL;
    if (n < 1 || n > CPC_MAX_BATCH)
        return cpc_set_error(c, CPC_ERR_INVALID, "a batch holds 1 to %d tasks", CPC_MAX_BATCH);
    if (!(*arr = json_object_new_array_ext((int)n))) return nomem(c);
    return CPC_OK;
}

int cp_client_task_submit_batch(cp_client *c, const struct cpc_task_spec *specs,
                                const struct cpc_task_options *opts, size_t n,
                                struct cpc_batch_result **out)
{
    struct json_object *arr;
    int err = batch_start(c, n, out, &arr);
    if (err) return err;
    if (!specs) {
        json_object_put(arr);
        return cpc_set_error(c, CPC_ERR_INVALID, "specs is NULL");
    }
    for (size_t i = 0; i < n; i++) {
        char generated[40];
        const char *key = opts ? opts[i].idempotency_key : NULL;
        if (!key && c->submit_retries > 0) {
            cpc_new_key(generated);
            key = generated;
        }
        struct json_object *t;
        if ((err = task_object(c, &specs[i], opts ? &opts[i] : NULL, NULL, key, &t)) ||
            json_object_array_add(arr, t) != 0) {
            if (!err) json_object_put(t);
            json_object_put(arr);
            if (!err) return nomem(c);
            char msg[sizeof c->message];
            snprintf(msg, sizeof msg, "%s", c->message);
            return cpc_set_error(c, err, "task %zu: %s", i, msg);
        }
    }
    return send_batch(c, arr, n, out);
}

int cp_client_task_submit_batch_json(cp_client *c, const char *const *tasks_json, size_t n,
                                     struct cpc_batch_result **out)
{
    struct json_object *arr;
    int err = batch_start(c, n, out, &arr);
    if (err) return err;
    for (size_t i = 0; i < n; i++) {
        struct json_object *t = NULL;
        if (!tasks_json || !tasks_json[i] || cpc_parse_arg(c, "task", tasks_json[i], &t) ||
            !json_object_is_type(t, json_type_object)) {
            json_object_put(t);
            json_object_put(arr);
            return cpc_set_error(c, CPC_ERR_INVALID, "task %zu is not a JSON object", i);
        }
        struct json_object *k = NULL;
        if (c->submit_retries > 0 && !json_object_object_get_ex(t, "idempotency_key", &k)) {
            char key[40];
            cpc_new_key(key);
            int failed = 0;
            cpc_add(t, "idempotency_key", json_object_new_string(key), &failed);
            if (failed) err = nomem(c);
        }
        if (err || json_object_array_add(arr, t) != 0) {
            json_object_put(t);
            json_object_put(arr);
            return err ? err : nomem(c);
        }
    }
    return send_batch(c, arr, n, out);
}
