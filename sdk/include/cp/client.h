/* cp/client.h — libcpclient: the C client of the cpd REST API (docs/api.md), for agents,
 * operators' tools and anything else that talks to a control plane.
 *
 * Link with -lcpclient (pkg-config `cp`, CMake target cp::client).
 *
 * Threads: a cp_client is one libcurl easy handle (one kept-alive connection); use it from one
 * thread at a time. An agent with a heartbeat thread opens two clients. Only
 * cp_client_interrupt() may be called from another thread or from a signal handler.
 *
 * Errors: every call returns CPC_OK (0) or a negative enum cp_client_error. After a failed call
 * cp_client_last_message() holds the server's sentence (or a local one), cp_client_last_code()
 * the server's snake_case code ("conflict", "no_agent", ...) and cp_client_last_status() the
 * HTTP status (0 when no answer arrived). Every call may also return CPC_ERR_TRANSPORT,
 * CPC_ERR_TIMEOUT, CPC_ERR_UNAUTHORIZED (401: missing or unknown token), CPC_ERR_FORBIDDEN
 * (403: the token's role may not do this), CPC_ERR_UNAVAILABLE (503: the storage backend is
 * unreachable or its answer was lost; cp_client_last_applied() says whether the call may have
 * taken effect), CPC_ERR_SERVER, CPC_ERR_PROTOCOL and CPC_ERR_NOMEM; the per-function lists
 * below name only the other ones.
 *
 * Ownership: result structs are allocated by the library and freed with their
 * cp_client_*_free() function (NULL is accepted). Strings returned through `char **` are freed
 * with free(). Every pointer argument is borrowed for the duration of the call.
 *
 * Request structs are zero-initialisable: a zero/NULL member means "the server's default".
 * Enum-valued request members are names ("high", "ready"), exactly as the REST API takes them.
 * Request structs never grow (a program built against an older header passes the older size):
 * new request members come in new structs and functions (cpc_task_options).
 *
 * Retries: submits (cp_client_task_submit, _submit_ex, _submit_batch) that fail with
 * CPC_ERR_UNAVAILABLE (503), CPC_ERR_TRANSPORT or CPC_ERR_TIMEOUT — where the server may or may
 * not have stored the task — are sent again, up to cp_client_set_retries() times (default 2,
 * after 250 ms, then doubling). Each carries an idempotency key, generated before the first
 * attempt when the caller gave none and reused on every retry, so a retry finds the task the
 * lost attempt stored instead of submitting it twice.
 */
#ifndef CP_CLIENT_H
#define CP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CPC_API __attribute__((visibility("default")))
#else
#define CPC_API
#endif

#define CPC_DEFAULT_URL "http://127.0.0.1:8080"
#define CPC_BASE_PATH "/api/control-plane"
#define CPC_MAX_BLOCK_MS 60000 /* the server's cap on block_ms and wait_ms */

enum cp_client_error {
    CPC_OK = 0,
    CPC_ERR_INVALID = -1,      /* 400 invalid_json/invalid_field/missing_field, or an argument
                                  refused before sending (the message names it) */
    CPC_ERR_UNAUTHORIZED = -2, /* 401 */
    CPC_ERR_FORBIDDEN = -3,    /* 403 */
    CPC_ERR_NOT_FOUND = -4,    /* 404 not_found (unknown agent/task/route) or no_agent */
    CPC_ERR_METHOD = -5,       /* 405 method_not_allowed */
    CPC_ERR_CONFLICT = -6,     /* 409: transition not allowed from the current state */
    CPC_ERR_TOO_LARGE = -7,    /* 413 payload_too_large */
    CPC_ERR_MEDIA_TYPE = -8,   /* 415 unsupported_media_type */
    CPC_ERR_UNAVAILABLE = -9,  /* 503 storage_unavailable */
    CPC_ERR_SERVER = -10,      /* any other non-2xx answer */
    CPC_ERR_TRANSPORT = -11,   /* could not connect, send or receive */
    CPC_ERR_TIMEOUT = -12,     /* the call's timeout passed; for cp_client_task_wait(): the
                                  deadline passed before the task ended */
    CPC_ERR_PROTOCOL = -13,    /* a 2xx answer whose body is not what the contract promises */
    CPC_ERR_INTERRUPTED = -14, /* a long poll stopped by cp_client_interrupt() */
    CPC_ERR_NOMEM = -15,
};

typedef struct cp_client cp_client;

struct cpc_options {
    const char *url;          /* "http://host:port" (the base path is appended unless the URL
                                 already ends with it); NULL = CPC_DEFAULT_URL */
    const char *token;        /* bearer token, or NULL for none */
    long timeout_ms;          /* per call; 0 = 30000 */
    long connect_timeout_ms;  /* 0 = 5000 */
    long long_poll_margin_ms; /* added to block_ms / wait_ms for long polls' timeouts; 0 = 5000 */
    const char *user_agent;   /* NULL = "libcpclient/<version>" */
};

/* Opens a client; no connection is made until the first call.
 * Errors: CPC_ERR_INVALID (URL not http:// or https://, negative timeout, token with a line
 * break), CPC_ERR_NOMEM. */
CPC_API int cp_client_open(cp_client **out, const struct cpc_options *opt);
/* Shorthand for cp_client_open() with only url and token; NULL on error. */
CPC_API cp_client *cp_client_new(const char *url, const char *token);
CPC_API void cp_client_free(cp_client *c);

/* Replaces the bearer token (NULL: none). Errors: CPC_ERR_NOMEM. */
CPC_API int cp_client_set_token(cp_client *c, const char *token);
/* Sets the per-call timeout (0 = 30000). Errors: CPC_ERR_INVALID (negative). */
CPC_API int cp_client_set_timeout(cp_client *c, long timeout_ms);
/* The base URL in use, e.g. "http://127.0.0.1:8080/api/control-plane". */
CPC_API const char *cp_client_url(const cp_client *c);

/* Makes the long poll in progress (cp_client_task_claim with block_ms > 0,
 * cp_client_task_wait), or the next one, return CPC_ERR_INTERRUPTED within about a second.
 * Other calls are unaffected. The request stays pending until a long poll consumes it.
 * Async-signal-safe and thread-safe: the one function that may be called concurrently. */
CPC_API void cp_client_interrupt(cp_client *c);

/* About the last call: HTTP status (0 when none arrived), the error sentence ("" after
 * success) and the server's error code ("" when none, e.g. after a transport error). Valid
 * until the next call on this client. */
CPC_API int cp_client_last_status(const cp_client *c);
CPC_API const char *cp_client_last_message(const cp_client *c);
CPC_API const char *cp_client_last_code(const cp_client *c);
/* What the last call's error answer says about its effect: the "applied" member of a 503
 * storage_unavailable body (docs/api.md "What a 503 means"). */
enum cpc_applied {
    CPC_APPLIED_NOT_SAID = -1, /* the answer did not say: success, another error, or no answer
                                  at all (a transport error or timeout: it may have been) */
    CPC_APPLIED_NO = 0,        /* "applied": false — certain: nothing changed; retry as is */
    CPC_APPLIED_UNKNOWN = 1,   /* "applied": "unknown" — it may have taken effect (a retried
                                  submit may create the task twice) */
};
CPC_API int cp_client_last_applied(const cp_client *c);
/* A static description of an enum cp_client_error ("not found", ...). */
CPC_API const char *cp_client_strerror(int err);

/* ---- Results ----------------------------------------------------------------------------- */

/* Times are milliseconds since the epoch (UTC); 0 when the server sent null. Enum members are
 * -1 when the server sent a name this library does not know. `json` is the whole object as the
 * server sent it (compact), for members this struct does not have. */

struct cpc_agent {
    char *agent_id;
    char **capabilities;
    size_t n_capabilities;
    int status; /* enum cp_agent_status */
    char *model;
    char *provider;
    char *metadata_json;     /* JSON text; "{}" when absent */
    char *health_probe_json; /* the registered probe object, or NULL */
    int64_t registered_at_ms;
    int64_t last_heartbeat_ms;
    uint32_t max_concurrent_tasks;
    uint32_t tasks_in_flight;
    char *current_task_id; /* or NULL */
    uint64_t tasks_completed;
    uint64_t tasks_failed;
    double avg_latency_ms;
    int health;  /* enum cp_health */
    int circuit; /* enum cp_circuit */
    char *json;
    int64_t drained_at_ms; /* when an operator drained it (cp_client_agent_drain), 0 = not */
};

struct cpc_agent_list {
    struct cpc_agent *agents;
    size_t n;
    uint64_t total; /* the server's "total" */
    char *json;
    char *next; /* a page's "next": the `after` of the following page; NULL at the end */
};

struct cpc_task {
    char *id;
    char *task_type;
    char *payload_json; /* JSON text; "null" when null */
    char **required_capabilities;
    size_t n_required;
    int status;   /* enum cp_task_status */
    int priority; /* enum cp_priority */
    int64_t created_at_ms;
    int64_t claimed_at_ms;
    int64_t started_at_ms;
    int64_t completed_at_ms;
    char *assigned_agent; /* or NULL */
    double timeout_seconds;
    uint32_t max_retries;
    uint32_t retries;
    uint32_t attempt;
    char *result_json;   /* JSON text, or NULL when null */
    char *error;         /* or NULL */
    char *metadata_json; /* JSON text; "{}" when absent */
    char *json;
    /* Appended in 0.2 (library-allocated: programs that index struct cpc_task arrays, e.g.
     * cpc_task_list.tasks, are rebuilt against this header). */
    int64_t deadline_at_ms;       /* claimed/running: when it times out; 0 otherwise */
    int64_t not_before_ms;        /* claimable from then on; 0 when at once */
    char *progress_json;          /* the holder's last progress object, or NULL */
    struct cpc_attempt *attempts; /* oldest first: ended ones, then the current or completed one */
    size_t n_attempts;
    char *idempotency_key; /* or NULL */
    char *tenant;          /* its tenant ("default" when submitted without one) */
};

/* One attempt at a task (TaskJSON "attempts"). */
struct cpc_attempt {
    char *agent_id;
    int64_t started_at_ms;
    int64_t ended_at_ms; /* 0 while in progress */
    int outcome;         /* enum cp_attempt_outcome; -1 while in progress (or unknown) */
    char *error;         /* or NULL */
};

struct cpc_task_list {
    struct cpc_task *tasks;
    size_t n;
    uint64_t total;
    char *json;
};

/* HealthJSON (docs/api.md). */
struct cpc_health {
    char *agent_id; /* the agent it describes */
    int status;     /* enum cp_health */
    int64_t last_check_ms;
    uint32_t consecutive_failures;
    uint32_t consecutive_successes;
    double latency_ms; /* of the last probe; < 0 when null */
    char *error;       /* or NULL */
    char *probe;       /* the probe type ("http", "tcp", ...), or NULL when none */
    int circuit;       /* enum cp_circuit */
    uint32_t circuit_failures;
    int64_t circuit_opened_at_ms;
    int64_t circuit_retry_at_ms;
    char *json;
};

struct cpc_system_health {
    int status;                /* enum cp_health, CP_HEALTH_CRITICAL included */
    struct cpc_health *agents; /* sorted by agent_id; every agent (full) or the degraded and
                                  unhealthy ones (the summary form) */
    size_t n_agents;
    char *json;
    /* Appended in 2.4: */
    int full;                               /* 1: the "agents" map; 0: the summary form */
    uint64_t agents_total;                  /* the summary's count of agents */
    uint64_t by_health[CP_HEALTH_CRITICAL]; /* healthy, degraded, unhealthy, unknown agents */
    char *next; /* a page's "next": the `after` of the following page; NULL at the end */
};

struct cpc_count {
    char *name;
    uint64_t count;
};

struct cpc_stats {
    uint64_t total_agents;
    uint64_t available_agents;
    uint64_t agents_by_status[CP_AGENT_STATUS_COUNT];
    struct cpc_count *agents_by_capability; /* sorted by name */
    size_t n_agents_by_capability;
    struct cpc_count *agents_by_provider;
    size_t n_agents_by_provider;
    uint64_t pending_tasks;
    uint64_t running_tasks; /* claimed + running */
    uint64_t total_tasks;
    uint64_t tasks_by_status[CP_TASK_STATUS_COUNT];
    uint64_t tasks_by_priority[CP_PRIORITY_COUNT];
    struct cpc_count *tasks_by_type;
    size_t n_tasks_by_type;
    int system_health; /* enum cp_health */
    uint64_t healthy_count;
    uint64_t degraded_count;
    uint64_t unhealthy_count;
    uint64_t circuits_open;
    char *json;
};

struct cpc_fail_result {
    int status; /* CP_TASK_PENDING (requeued) or CP_TASK_FAILED */
    uint32_t retries;
};

CPC_API void cp_client_agent_free(struct cpc_agent *a);
CPC_API void cp_client_agent_list_free(struct cpc_agent_list *l);
CPC_API void cp_client_task_free(struct cpc_task *t);
CPC_API void cp_client_task_list_free(struct cpc_task_list *l);
CPC_API void cp_client_health_free(struct cpc_health *h);
CPC_API void cp_client_system_health_free(struct cpc_system_health *h);
CPC_API void cp_client_stats_free(struct cpc_stats *s);

/* ---- Agents (docs/api.md) ---------------------------------------------------------------- */

struct cpc_agent_spec {
    const char *agent_id; /* required */
    const char *const *capabilities;
    size_t n_capabilities;
    const char *model;             /* NULL = "unknown" */
    const char *provider;          /* NULL = "unknown" */
    const char *metadata_json;     /* a JSON object's text; NULL = {} */
    uint32_t max_concurrent_tasks; /* 0 = 1 */
    /* NULL = no probe; else an object such as {"type": "http", "url": "http://h:p/health",
     * "interval_seconds": 10} (docs/api.md). */
    const char *health_probe_json;
};

/* POST /agents. Registers, or re-registers an existing id (fields replaced, counters kept,
 * status ready). *out (may be NULL) gets the stored agent; *created (may be NULL) 1 when the id
 * was new, 0 when it re-registered.
 * Errors: CPC_ERR_INVALID (missing agent_id, bad identifier, metadata/probe not valid JSON or of
 * the wrong shape, unknown probe type, too many capabilities), CPC_ERR_TOO_LARGE. */
CPC_API int cp_client_agent_register(cp_client *c, const struct cpc_agent_spec *spec,
                                     struct cpc_agent **out, int *created);

/* POST /agents/:id/heartbeat. status: an enum cp_agent_status to report (not
 * CP_AGENT_OFFLINE), or -1 to only refresh liveness. *status_out (may be NULL) gets the status
 * the server now holds.
 * Errors: CPC_ERR_NOT_FOUND (unknown agent), CPC_ERR_INVALID (offline or an out-of-range status).
 */
CPC_API int cp_client_agent_heartbeat(cp_client *c, const char *agent_id, int status,
                                      int *status_out);

/* DELETE /agents/:id. Its in-flight tasks return to pending.
 * Errors: CPC_ERR_NOT_FOUND. */
CPC_API int cp_client_agent_unregister(cp_client *c, const char *agent_id);

/* POST /agents/:id/drain (admin): the agent gets no new tasks, finishes those it holds, and
 * reads draining until undrained — whatever its heartbeats say (offline and failed still show).
 * Idempotent. *out (may be NULL) gets the agent after.
 * POST /agents/:id/undrain: back to the status it reported last.
 * Errors: CPC_ERR_NOT_FOUND, CPC_ERR_FORBIDDEN (not an admin token), CPC_ERR_SERVER (501
 * not_implemented: the server's storage plugin predates draining). */
CPC_API int cp_client_agent_drain(cp_client *c, const char *agent_id, struct cpc_agent **out);
CPC_API int cp_client_agent_undrain(cp_client *c, const char *agent_id, struct cpc_agent **out);

/* GET /agents/:id. Errors: CPC_ERR_NOT_FOUND. */
CPC_API int cp_client_agent_get(cp_client *c, const char *agent_id, struct cpc_agent **out);

struct cpc_agent_query {
    const char *const *capabilities; /* the agents must have all of them */
    size_t n_capabilities;
    int all;            /* 0: only agents available now (the default); 1: every agent */
    const char *status; /* only this status ("ready", ...), or NULL for any */
};

/* GET /agents: every match, sorted by agent_id, read page by page (CPC_AGENT_PAGE agents a
 * request, following "next"), so a large fleet never comes as one huge answer. q may be NULL
 * (available agents). (*out)->json is {"agents":[...],"total":n,"next":null} over all pages.
 * Errors: CPC_ERR_INVALID (unknown status, bad capability). */
#define CPC_AGENT_PAGE 500
CPC_API int cp_client_agent_list(cp_client *c, const struct cpc_agent_query *q,
                                 struct cpc_agent_list **out);
/* One page of GET /agents: at most `limit` agents (1..100000) with ids after `after` (NULL:
 * from the start); (*out)->next is the `after` of the following page, NULL on the last.
 * Errors: CPC_ERR_INVALID (as above, or limit out of range). */
CPC_API int cp_client_agent_page(cp_client *c, const struct cpc_agent_query *q, uint32_t limit,
                                 const char *after, struct cpc_agent_list **out);

struct cpc_select_query {
    const char *const *capabilities;
    size_t n_capabilities;
    const char *strategy; /* NULL = the server's default */
    const char *const *exclude;
    size_t n_exclude;
    /* Hints for the strategy, sent as hint.<key>=<value> (at most 16; keys of letters, digits,
     * '_', '-', '.'; values 1-256 bytes): hint_keys[i] = hint_values[i]. */
    const char *const *hint_keys;
    const char *const *hint_values;
    size_t n_hints;
};

/* GET /agents/select. q may be NULL.
 * Errors: CPC_ERR_NOT_FOUND (no agent qualifies: cp_client_last_code() is "no_agent"),
 * CPC_ERR_INVALID (unknown strategy — the message lists the loaded ones —, bad capability,
 * bad hint). */
CPC_API int cp_client_agent_select(cp_client *c, const struct cpc_select_query *q,
                                   struct cpc_agent **out);

/* ---- Tasks (docs/api.md) ----------------------------------------------------------------- */

struct cpc_task_spec {
    const char *task_type;    /* required */
    const char *payload_json; /* any JSON text; NULL = {} */
    const char *const *required_capabilities;
    size_t n_required;
    const char *priority; /* "critical"|"urgent"|"high"|"normal"|"low" or "0".."3"; NULL = normal */
    double timeout_seconds; /* 0 = TASK_TIMEOUT */
    int has_max_retries;    /* 0 = MAX_TASK_RETRIES; 1 = use max_retries (0 is valid) */
    uint32_t max_retries;
    const char *metadata_json; /* a JSON object's text; NULL = {} */
    const char *strategy;      /* selection strategy for this task; NULL = the default */
};

/* POST /tasks. *task_id gets the new id (free() it).
 * Errors: CPC_ERR_INVALID (missing task_type, payload/metadata not valid JSON, bad priority,
 * timeout or capability, unknown strategy), CPC_ERR_TOO_LARGE. */
CPC_API int cp_client_task_submit(cp_client *c, const struct cpc_task_spec *spec, char **task_id);

/* Sets how often a submit is sent again after CPC_ERR_UNAVAILABLE, CPC_ERR_TRANSPORT or
 * CPC_ERR_TIMEOUT (retries >= 0; 0: never, and no key is generated), waiting backoff_ms before
 * the first retry and doubling (0 = 250). Errors: CPC_ERR_INVALID (negative). */
CPC_API int cp_client_set_retries(cp_client *c, int retries, long backoff_ms);

/* What POST /tasks takes beyond struct cpc_task_spec (zero-initialisable). */
struct cpc_task_options {
    const char *idempotency_key; /* 1-128 visible ASCII characters; NULL: generated (retries) */
    double delay_seconds;        /* > 0: claimable that much later */
    const char *run_at;          /* ISO 8601 ("2026-11-28T18:06:34Z"): claimable from then */
    const char *backoff_type;    /* "none", "fixed" or "exponential"; NULL: the server's default */
    double backoff_seconds;      /* the first retry's delay */
    double backoff_max_seconds;  /* exponential: the longest; 0: the server's default (3600) */
    int backoff_jitter;          /* 1: each delay drawn from [half of it, all of it] */
    /* est_tokens (docs/fleet.md): both 0: not given (the server's default for the type) */
    uint32_t est_input_tokens, est_max_output;
    const char *tenant; /* whose task it is (fair share); NULL: the default tenant */
};

/* POST /tasks with options (opt may be NULL), retried as the header comment says. *created
 * (may be NULL) is 1 when the task was stored by this call, 0 when its idempotency key found
 * the task an earlier submit stored (the server answered 200). With a store that cannot keep
 * keys (501 not_supported) a generated key is dropped and the task submitted once without it.
 * Errors: as cp_client_task_submit(), and CPC_ERR_SERVER with code "not_supported" for what
 * the store cannot do (delays, backoff, a key given by the caller). */
CPC_API int cp_client_task_submit_ex(cp_client *c, const struct cpc_task_spec *spec,
                                     const struct cpc_task_options *opt, char **task_id,
                                     int *created);

/* One item's outcome in a batch: its id (created or found by its key), or its error. */
struct cpc_batch_item {
    char *task_id; /* NULL when refused */
    int created;   /* 1: stored by this batch; 0: found by its idempotency key */
    char *error;   /* refused: the server's sentence, and its code ("invalid_field", ...) */
    char *code;
};
struct cpc_batch_result {
    struct cpc_batch_item *items; /* in the order given */
    size_t n;
    size_t created, existing, failed;
    char *json;
};
CPC_API void cp_client_batch_result_free(struct cpc_batch_result *r);

/* POST /tasks/batch: n tasks (1..CPC_MAX_BATCH) in one request, one storage operation. opts:
 * NULL, or n options parallel to specs. Every item without a key gets one (retries on), so a
 * retried batch stores nothing twice. Items the server refuses are answered in place; the call
 * succeeds when the request as a whole did.
 * Errors: CPC_ERR_INVALID (n out of range, a bad spec), CPC_ERR_TOO_LARGE, and what a submit
 * may return. */
#define CPC_MAX_BATCH 1000
CPC_API int cp_client_task_submit_batch(cp_client *c, const struct cpc_task_spec *specs,
                                        const struct cpc_task_options *opts, size_t n,
                                        struct cpc_batch_result **out);
/* The same with each task given as the JSON object POST /tasks takes (e.g. a line of a JSONL
 * file). Errors: also CPC_ERR_INVALID naming the item that is not a JSON object. */
CPC_API int cp_client_task_submit_batch_json(cp_client *c, const char *const *tasks_json, size_t n,
                                             struct cpc_batch_result **out);

/* GET /tasks/:id. Errors: CPC_ERR_NOT_FOUND. */
CPC_API int cp_client_task_get(cp_client *c, const char *task_id, struct cpc_task **out);

/* Waits for the task to end (completed, failed, cancelled or timeout) with GET /tasks/:id?wait_ms
 * long polls (each at most CPC_MAX_BLOCK_MS), for at most timeout_ms (< 0: no deadline; 0: one
 * look). Returns CPC_OK with the terminal task in *out (whatever its status: check it).
 * Errors: CPC_ERR_TIMEOUT (the deadline or a call's timeout passed: *out holds the task as last
 * seen, or NULL if none was seen), CPC_ERR_INTERRUPTED, CPC_ERR_NOT_FOUND (unknown, or deleted by
 * retention); on errors other than CPC_ERR_TIMEOUT *out is NULL. */
CPC_API int cp_client_task_wait(cp_client *c, const char *task_id, long timeout_ms,
                                struct cpc_task **out);

/* POST /tasks/claim. capabilities NULL = the agent's registered ones. block_ms (0..60000) > 0
 * holds the request until a matching task arrives or the time is up. *out is the claimed task,
 * or NULL when none was handed out (nothing matched in time, or the agent may not claim now:
 * draining, busy, failed, circuit open).
 * Errors: CPC_ERR_NOT_FOUND (unknown agent), CPC_ERR_INVALID (block_ms out of range, bad
 * capability), CPC_ERR_INTERRUPTED (only when block_ms > 0). */
CPC_API int cp_client_task_claim(cp_client *c, const char *agent_id,
                                 const char *const *capabilities, size_t n_capabilities,
                                 long block_ms, struct cpc_task **out);

/* POST /tasks/:id/start: claimed -> running. agent_id may be NULL.
 * Errors: CPC_ERR_NOT_FOUND, CPC_ERR_CONFLICT (not claimed, or claimed by another agent). */
CPC_API int cp_client_task_start(cp_client *c, const char *task_id, const char *agent_id);

/* POST /tasks/:id/complete. result_json: any JSON text, NULL = null. agent_id may be NULL (no
 * ownership check). latency_ms < 0: the server measures it from claimed_at.
 * Errors: CPC_ERR_NOT_FOUND, CPC_ERR_CONFLICT (not claimed/running — e.g. cancelled or timed
 * out —, or assigned to another agent), CPC_ERR_INVALID (result not valid JSON),
 * CPC_ERR_TOO_LARGE. */
CPC_API int cp_client_task_complete(cp_client *c, const char *task_id, const char *agent_id,
                                    const char *result_json, double latency_ms);

/* POST /tasks/:id/fail. error NULL = "Unknown error". requeue: retry while retries remain.
 * *out (may be NULL) gets the task's new status (pending or failed) and retries.
 * Errors: as cp_client_task_complete(). */
CPC_API int cp_client_task_fail(cp_client *c, const char *task_id, const char *agent_id,
                                const char *error, double latency_ms, int requeue,
                                struct cpc_fail_result *out);

/* The claim that complete/fail with next make for the agent (as cp_client_task_claim takes it):
 * capabilities NULL = the agent's registered ones; block_ms 0..60000 (> 0: held until a task
 * arrives or the time is up). A NULL struct cpc_next: registered capabilities, no wait. */
struct cpc_next {
    const char *const *capabilities;
    size_t n_capabilities;
    long block_ms;
};

/* POST /tasks/:id/complete with "next": the completion and the claim of the agent's next task
 * in one request (the two-request task lifecycle: submit, then complete-with-next). agent_id is
 * required (the claimer). On CPC_OK the task is completed and *out is the next task, or NULL
 * when none was handed out (nothing within next->block_ms, the agent may not claim now, or the
 * claim itself failed: the completion stands either way; claim again on your own). Errors: as
 * cp_client_task_complete() — nothing was completed and nothing claimed — plus CPC_ERR_INVALID
 * (bad next) and CPC_ERR_INTERRUPTED (only when block_ms > 0: the completion was sent and may
 * have been made; a claimed task whose reply never arrives is released by the server). */
CPC_API int cp_client_task_complete_next(cp_client *c, const char *task_id, const char *agent_id,
                                         const char *result_json, double latency_ms,
                                         const struct cpc_next *next, struct cpc_task **out);
/* POST /tasks/:id/fail with "next": as cp_client_task_fail() (fail_out may be NULL), and *out as
 * cp_client_task_complete_next(). */
CPC_API int cp_client_task_fail_next(cp_client *c, const char *task_id, const char *agent_id,
                                     const char *error, double latency_ms, int requeue,
                                     const struct cpc_next *next, struct cpc_fail_result *fail_out,
                                     struct cpc_task **out);

/* POST /tasks/:id/cancel. Errors: CPC_ERR_NOT_FOUND, CPC_ERR_CONFLICT (already terminal). */
CPC_API int cp_client_task_cancel(cp_client *c, const char *task_id);

/* POST /tasks/:id/extend: the holder keeps its lease. seconds > 0: the deadline moves to now +
 * seconds, else to now + the task's timeout_seconds. percent (0..100, < 0: none) and message
 * (NULL: none) are reported as its progress (neither: the last progress is kept). agent_id may
 * be NULL (no ownership check). *deadline_ms (may be NULL) gets the new deadline.
 * Errors: CPC_ERR_NOT_FOUND, CPC_ERR_CONFLICT (not claimed/running, or another agent's),
 * CPC_ERR_INVALID. */
CPC_API int cp_client_task_extend(cp_client *c, const char *task_id, const char *agent_id,
                                  double seconds, double percent, const char *message,
                                  int64_t *deadline_ms);

/* POST /tasks/:id/retry (admin): a failed, timed-out or cancelled task back to pending,
 * retries 0, its attempts kept. Errors: CPC_ERR_NOT_FOUND, CPC_ERR_CONFLICT (other states). */
CPC_API int cp_client_task_retry(cp_client *c, const char *task_id);

struct cpc_purge_query {
    const char *status;        /* "completed", "failed", "cancelled", "timeout"; NULL: any */
    const char *task_type;     /* or NULL for any */
    double older_than_seconds; /* ended at least this long ago (0: any) */
    uint32_t limit;            /* at most this many per request; 0 = 1000 (server max 10000) */
};
/* DELETE /tasks (admin): one bounded request. *purged (may be NULL) gets how many were deleted,
 * *more (may be NULL) 1 when matching tasks may remain (call again).
 * Errors: CPC_ERR_INVALID (a status that is not terminal, a bad number). */
CPC_API int cp_client_task_purge(cp_client *c, const struct cpc_purge_query *q, uint64_t *purged,
                                 int *more);

struct cpc_task_query {
    const char *status;    /* "pending", ... or NULL for any */
    const char *task_type; /* or NULL for any */
    uint32_t limit;        /* 0 = 50; at most 1000 */
};

/* GET /tasks, newest first. q may be NULL.
 * Errors: CPC_ERR_INVALID (unknown status, limit over 1000). */
CPC_API int cp_client_task_list(cp_client *c, const struct cpc_task_query *q,
                                struct cpc_task_list **out);

/* Health, stats, the event stream, plugins and raw requests. */
#include "client_observe.h"
#include "client_fleet.h"
/* Tenants (fair share). */
#include "client_tenants.h"

#ifdef __cplusplus
}
#endif
#endif
