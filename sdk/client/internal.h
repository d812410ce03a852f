/* internal.h — libcpclient's private shapes: the client handle, the HTTP exchange, a string
 * builder for paths and the JSON decoders shared by the endpoint files. Not installed. */
#ifndef CPC_INTERNAL_H
#define CPC_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "cp/abi.h"
#include "cp/client.h"

struct cp_client {
    CURL *curl;
    char *base;        /* "<url>/api/control-plane", no trailing slash */
    char *auth_header; /* "Authorization: Bearer <token>", or NULL */
    char *user_agent;
    long timeout_ms;
    long connect_timeout_ms;
    long margin_ms;
    int submit_retries; /* cp_client_set_retries() */
    long submit_backoff_ms;
    atomic_int interrupt_requested; /* set by cp_client_interrupt(), consumed by long polls */
    int interruptible;              /* a long poll is in progress */
    int last_status;
    int last_applied; /* enum cpc_applied */
    char message[512];
    char code[64];
    char curl_err[CURL_ERROR_SIZE];
};

/* Records a local error (no HTTP status) and returns err. */
int cpc_set_error(cp_client *c, int err, const char *fmt, ...) CP_PRINTF(3, 4);
/* Clears the last-call fields before a call. */
void cpc_reset_error(cp_client *c);

/* A fresh idempotency key ("cpc-" + 32 hex digits of 128 random bits) into out[40]. */
void cpc_new_key(char out[40]);

/* One HTTP exchange with <base><path>. body: JSON text or NULL. timeout_ms: whole call.
 * interruptible: cp_client_interrupt() may stop it. On a 2xx answer: CPC_OK and, when out is
 * given, the parsed body (json_object_put() it; CPC_ERR_PROTOCOL if it is not JSON); when raw is
 * given, the body text (free() it). Else the mapped error with message/code recorded. */
int cpc_http(cp_client *c, const char *method, const char *path, const char *body, long timeout_ms,
             int interruptible, struct json_object **out, char **raw);

/* A non-2xx answer (status, and its body as received) recorded as the last error; returns the
 * mapped enum cp_client_error. */
int cpc_status_error(cp_client *c, long status, const char *body, size_t len);

/* Serialises obj (consumed, may be NULL on allocation failure) and sends it as a POST. */
int cpc_post(cp_client *c, const char *path, struct json_object *obj, long timeout_ms,
             int interruptible, struct json_object **out);

/* A growing string for paths and queries. On allocation failure `failed` is set and further
 * appends do nothing; check it once at the end. */
struct cpc_buf {
    char *s;
    size_t len, cap;
    int failed;
};
void cpc_buf_add(struct cpc_buf *b, const char *s);
void cpc_buf_addf(struct cpc_buf *b, const char *fmt, ...) CP_PRINTF(2, 3);
/* Appends s percent-encoded (everything but unreserved characters). */
void cpc_buf_add_escaped(struct cpc_buf *b, const char *s);
/* Appends "?" or "&" as the query needs, then key=escaped(value). */
void cpc_buf_add_param(struct cpc_buf *b, const char *key, const char *value);
void cpc_buf_free(struct cpc_buf *b);

/* Parses JSON text given by the caller for member `what`; CPC_ERR_INVALID names it. */
int cpc_parse_arg(cp_client *c, const char *what, const char *text, struct json_object **out);
/* Adds v (consumed) as o[key]; sets *failed when o or v is NULL (allocation failed) or the add
 * fails. cpc_add_json accepts v == NULL, which is JSON null. */
void cpc_add(struct json_object *o, const char *key, struct json_object *v, int *failed);
void cpc_add_json(struct json_object *o, const char *key, struct json_object *v, int *failed);
/* Array of strings; NULL on allocation failure. */
struct json_object *cpc_string_array(const char *const *v, size_t n);
/* Checks an array argument: no NULL or empty member, no NULL array with n > 0. */
int cpc_check_strings(cp_client *c, const char *what, const char *const *v, size_t n);
/* Checks an argument that must be a non-empty string. */
int cpc_require(cp_client *c, const char *what, const char *value);

/* Decoders: fill *out from a parsed object. CPC_ERR_PROTOCOL when required members are
 * missing or of the wrong type, CPC_ERR_NOMEM. On error nothing is left allocated. */
int cpc_decode_agent(cp_client *c, struct json_object *o, struct cpc_agent *out);
int cpc_decode_task(cp_client *c, struct json_object *o, struct cpc_task *out);
int cpc_decode_health(cp_client *c, const char *agent_id, struct json_object *o,
                      struct cpc_health *out);
void cpc_agent_clear(struct cpc_agent *a);
void cpc_task_clear(struct cpc_task *t);
void cpc_health_clear(struct cpc_health *h);

/* Small JSON getters: a missing member or JSON null gives the fallback. */
const char *cpc_get_str(struct json_object *o, const char *key);
int64_t cpc_get_i64(struct json_object *o, const char *key, int64_t fallback);
double cpc_get_double(struct json_object *o, const char *key, double fallback);
/* Copy of a member's compact JSON text (strings quoted); a copy of null_text (which may be
 * NULL) when the member is absent or null. Sets *nomem on allocation failure. */
char *cpc_dup_json(struct json_object *o, const char *key, const char *null_text, int *nomem);
/* strdup of NULL is NULL; sets *nomem when a non-NULL copy fails. */
char *cpc_strdup(const char *s, int *nomem);
/* ISO 8601 UTC with optional fraction ("2026-11-28T18:06:34.123Z") to ms; 0 for NULL/bad. */
int64_t cpc_parse_time(const char *s);
/* Compact JSON text of o, owned by o. */
const char *cpc_json_text(struct json_object *o);

#endif
