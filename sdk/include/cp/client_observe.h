/* cp/client_observe.h — libcpclient: watching the fleet (health, stats, the event stream,
 * plugins) and raw requests. Included by cp/client.h, which declares cp_client and CPC_API;
 * include cp/client.h, not this file. */
#ifndef CP_CLIENT_OBSERVE_H
#define CP_CLIENT_OBSERVE_H

#ifndef CP_CLIENT_H
#error "include <cp/client.h>, not <cp/client_observe.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Health and stats (docs/api.md) ------------------------------------------------------- */

/* GET /health. No token needed. The server's default form: every agent's health for a fleet of
 * up to 1000 agents, else the summary (counts, and the degraded and unhealthy agents, at most
 * 100); (*out)->full says which. */
CPC_API int cp_client_health(cp_client *c, struct cpc_system_health **out);

struct cpc_health_query {
    const char *agents; /* "auto" (NULL), "summary" or "all" */
    uint32_t limit;     /* at most this many agents (1..100000); 0 = the server's default */
    const char *after;  /* the previous page's next, or NULL */
};
/* GET /health?agents=&limit=&after=: one page of the chosen form. q may be NULL.
 * Errors: CPC_ERR_INVALID (bad agents, limit or after). */
CPC_API int cp_client_health_query(cp_client *c, const struct cpc_health_query *q,
                                   struct cpc_system_health **out);
/* Every agent's health (?agents=all), read CPC_AGENT_PAGE agents a request; (*out)->json is
 * the first page's object with the agents of all pages and "next": null. */
CPC_API int cp_client_health_all(cp_client *c, struct cpc_system_health **out);
/* GET /health/:agent_id. Errors: CPC_ERR_NOT_FOUND. */
CPC_API int cp_client_agent_health(cp_client *c, const char *agent_id, struct cpc_health **out);
/* GET /stats. */
CPC_API int cp_client_stats(cp_client *c, struct cpc_stats **out);

/* ---- The event stream (GET /events, Server-Sent Events) ------------------------------------ */

/* One event as the server sent it; everything is borrowed for the callback. */
struct cpc_event {
    const char *id;   /* its id ("" for resync and overflow, which have none); give the last one
                         to last_event_id to resume later */
    const char *type; /* "agent_registered", ..., "health_update"; "resync" (changes may have
                         been missed: reload what you show) or "overflow" (this reader fell
                         behind and the server ended the stream) */
    const char *data; /* the event's JSON object, as text */
};

struct cpc_events_options {
    const char *types;         /* comma-separated event names; NULL: every type */
    const char *task_type;     /* only task events of this type; NULL: any */
    const char *agent_id;      /* only events about this agent; NULL: any */
    const char *last_event_id; /* resume after this id; NULL: from now on */
    int reconnect;             /* 1: when the connection drops or the server ends the stream,
                                  connect again after the server's retry delay (3 s), resuming
                                  from the last id seen */
};

/* Called for each event in order; return 0 to go on, non-zero to stop reading. */
typedef int (*cpc_event_fn)(void *arg, const struct cpc_event *ev);

/* Reads the event stream, calling fn for each event, until fn returns non-zero (CPC_OK),
 * cp_client_interrupt() is called (CPC_ERR_INTERRUPTED), or — without opt->reconnect — the
 * connection ends (CPC_OK when the server ended the stream). A connection on which nothing
 * arrives for 60 s (the server sends a keep-alive every 15 s) counts as dropped. opt may be
 * NULL. Blocks the calling thread; c is busy meanwhile.
 * Errors: CPC_ERR_INVALID (a filter the server refuses), CPC_ERR_PROTOCOL (an answer that is
 * not an event stream, an event over 1 MiB), CPC_ERR_TIMEOUT (nothing for 60 s). With
 * reconnect, only the refusals (4xx), CPC_ERR_PROTOCOL and CPC_ERR_NOMEM end the call. */
CPC_API int cp_client_events(cp_client *c, const struct cpc_events_options *opt, cpc_event_fn fn,
                             void *arg);

/* ---- Plugins ------------------------------------------------------------------------------ */

/* One loaded plugin (GET /plugins). Option values are never sent, only their names. */
struct cpc_plugin {
    char *kind;        /* "storage", "selection" or "probe" */
    char *name;        /* what configs and requests call it (a strategy's name, a probe type) */
    char *version;     /* the plugin's own version */
    char *abi_version; /* the ABI it was built for, "2.4" */
    char *path;        /* the file it was loaded from */
    char **options;    /* the names of its config options */
    size_t n_options;
    int is_default; /* the default selection strategy */
};

struct cpc_plugin_list {
    struct cpc_plugin *plugins; /* storage first, then selection, then probes */
    size_t n;
    char *json;
};

/* GET /plugins. */
CPC_API int cp_client_plugins(cp_client *c, struct cpc_plugin_list **out);
CPC_API void cp_client_plugin_list_free(struct cpc_plugin_list *l);

/* ---- Anything else ------------------------------------------------------------------------ */

/* One request to <base>/<path> (path starts with '/', query included, already escaped).
 * body_json: JSON text sent as application/json, or NULL for none. timeout_ms 0 = the client's.
 * *response (may be NULL) gets the body of a 2xx answer (free() it).
 * Errors: every code above, from the HTTP status. */
CPC_API int cp_client_request(cp_client *c, const char *method, const char *path,
                              const char *body_json, long timeout_ms, char **response);

#ifdef __cplusplus
}
#endif
#endif
