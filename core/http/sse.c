/* sse.c — the event stream's hub: one subscription to ops_feed while anyone reads (and for
 * SSE_LINGER_MS after the last reader leaves, so that a reconnecting reader can resume), each
 * change rendered once into its SSE frame, the last events.history frames kept in a ring for
 * Last-Event-ID, and each frame written to the readers whose filters it passes.
 *
 * A frame is "id: <n>\nevent: <name>\ndata: <json>\n\n". Two control events carry no id (a
 * reader's Last-Event-ID stays at the last change it saw): `resync` (changes may have been
 * missed: reload the state) and `overflow` (the last one: this reader fell behind by
 * events.client_buffer_bytes and is cut off).
 *
 * Back-pressure: before a frame is written, what the connection still holds unwritten
 * (http_stream_queued) plus the frame must fit in events.client_buffer_bytes; a reader that
 * does not keep up gets `overflow` (a few hundred bytes past the limit at most) and its stream
 * ends. The loop never waits for a reader, and no reader holds more than its limit. */
#include "sse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <cp/time.h>

#include "../events.h"
#include "../log.h"
#include "render.h"

#define SSE_LINGER_MS 120000 /* the source and the ring outlive the last reader this long */
#define SSE_RETRY_MS 3000    /* the reconnection delay suggested to EventSource */

static const char *const type_names[SSE_TYPE_COUNT] = {
    [SSE_AGENT_REGISTERED] = "agent_registered",
    [SSE_AGENT_UNREGISTERED] = "agent_unregistered",
    [SSE_AGENT_STATUS_CHANGED] = "agent_status_changed",
    [SSE_TASK_SUBMITTED] = "task_submitted",
    [SSE_TASK_CLAIMED] = "task_claimed",
    [SSE_TASK_STARTED] = "task_started",
    [SSE_TASK_COMPLETED] = "task_completed",
    [SSE_TASK_FAILED] = "task_failed",
    [SSE_TASK_REQUEUED] = "task_requeued",
    [SSE_TASK_TIMEOUT] = "task_timeout",
    [SSE_TASK_CANCELLED] = "task_cancelled",
    [SSE_HEALTH_UPDATE] = "health_update",
    [SSE_TASK_EXTENDED] = "task_extended",
    [SSE_TASK_RETRIED] = "task_retried",
    [SSE_TASK_DUE] = "task_due",
    [SSE_QUOTA_PAUSED] = "quota_paused",
    [SSE_QUOTA_RESUMED] = "quota_resumed",
    [SSE_QUOTA_CONCURRENCY] = "quota_concurrency",
};

const char *sse_type_name(int type)
{
    return type >= 0 && type < SSE_TYPE_COUNT ? type_names[type] : "unknown";
}

int sse_type_from_name(const char *name, size_t len)
{
    for (int i = 0; i < SSE_TYPE_COUNT; i++)
        if (strlen(type_names[i]) == len && memcmp(type_names[i], name, len) == 0) return i;
    return -1;
}

struct sse_entry {
    uint64_t id;
    int type;
    char *agent_id, *task_type; /* for the filters; owned, or NULL */
    char *frame;
    size_t len;
};

struct sse_client {
    struct sse_client *prev, *next;
    struct sse_hub *hub;
    struct req *r;
    struct sse_filter f;
    int linked; /* in hub->clients: receives events */
};

struct sse_hub {
    struct cp_core *core;
    struct sse_client *clients;
    size_t n_clients;
    int subscribed;
    struct event *linger, *keepalive;
    struct sse_entry *ring; /* cap entries; n of them from head on (oldest first) */
    uint32_t cap, head, n;
    /* Every change numbered above `floor` is in the ring (known once a change arrived after
     * the source was turned on or after a gap). */
    uint64_t floor;
    int floor_known;
};

/* ---- the ring ------------------------------------------------------------------------------ */

static void entry_clear(struct sse_entry *e)
{
    free(e->agent_id);
    free(e->task_type);
    free(e->frame);
    memset(e, 0, sizeof *e);
}

static void ring_clear(struct sse_hub *hub)
{
    for (uint32_t i = 0; i < hub->n; i++)
        entry_clear(&hub->ring[(hub->head + i) % hub->cap]);
    hub->head = hub->n = 0;
    hub->floor_known = 0;
}

static struct sse_entry *ring_push(struct sse_hub *hub)
{
    if (!hub->ring) {
        hub->cap = hub->core->cfg->events_history ? hub->core->cfg->events_history : 1;
        hub->ring = xcalloc(hub->cap, sizeof *hub->ring);
    }
    if (hub->n == hub->cap) { /* the oldest goes: resuming from before it is not possible */
        struct sse_entry *old = &hub->ring[hub->head];
        hub->floor = old->id;
        entry_clear(old);
        hub->head = (hub->head + 1) % hub->cap;
        hub->n--;
    }
    struct sse_entry *e = &hub->ring[(hub->head + hub->n) % hub->cap];
    hub->n++;
    return e;
}

static void ring_free(struct sse_hub *hub)
{
    ring_clear(hub);
    free(hub->ring);
    hub->ring = NULL;
    hub->cap = 0;
}

/* ---- rendering ----------------------------------------------------------------------------- */

static const char *status_name(int kind, int32_t s)
{
    return kind >= EVT_TASK_SUBMITTED ? cp_task_status_name(s) : cp_agent_status_name(s);
}

static void add_status(struct evbuffer *b, const char *key, int kind, int32_t s)
{
    evbuffer_add_printf(b, ",\"%s\":", key);
    render_string(b, s >= 0 ? status_name(kind, s) : NULL);
}

/* The SSE type of a change, or -1 for one the stream does not tell. */
static int type_of(const struct domain_event *e)
{
    switch (e->kind) {
    case EVT_AGENT_REGISTERED:
        return SSE_AGENT_REGISTERED;
    case EVT_AGENT_UNREGISTERED:
        return SSE_AGENT_UNREGISTERED;
    case EVT_AGENT_STATUS:
    case EVT_AGENT_REMOVED:
        return SSE_AGENT_STATUS_CHANGED;
    case EVT_AGENT_HEALTH:
        return SSE_HEALTH_UPDATE;
    case EVT_TASK_SUBMITTED:
        return SSE_TASK_SUBMITTED;
    case EVT_TASK_CLAIMED:
        return SSE_TASK_CLAIMED;
    case EVT_TASK_STARTED:
        return SSE_TASK_STARTED;
    case EVT_TASK_COMPLETED:
        return SSE_TASK_COMPLETED;
    case EVT_TASK_FAILED:
        return SSE_TASK_FAILED;
    case EVT_TASK_REQUEUED:
    case EVT_TASK_RELEASED:
        return SSE_TASK_REQUEUED;
    case EVT_TASK_TIMEOUT:
        return SSE_TASK_TIMEOUT;
    case EVT_TASK_CANCELLED:
        return SSE_TASK_CANCELLED;
    case EVT_TASK_EXTENDED:
        return SSE_TASK_EXTENDED;
    case EVT_TASK_RETRIED:
        return SSE_TASK_RETRIED;
    case EVT_TASK_DUE:
        return SSE_TASK_DUE;
    case EVT_QUOTA_PAUSED:
        return SSE_QUOTA_PAUSED;
    case EVT_QUOTA_RESUMED:
        return SSE_QUOTA_RESUMED;
    case EVT_QUOTA_CONCURRENCY:
        return SSE_QUOTA_CONCURRENCY;
    default:
        return -1;
    }
}

/* The frame of change e (type t) into b. */
static void render_frame(struct evbuffer *b, int t, const struct domain_event *e)
{
    evbuffer_add_printf(b,
                        "id: %" PRIu64 "\nevent: %s\ndata: {\"type\":\"%s\",\"timestamp\":", e->id,
                        type_names[t], type_names[t]);
    render_time(b, e->at_ms);
    render_literal(b, ",\"agent_id\":");
    render_string(b, e->agent_id);
    if (e->kind == EVT_QUOTA_PAUSED || e->kind == EVT_QUOTA_RESUMED ||
        e->kind == EVT_QUOTA_CONCURRENCY) {
        render_literal(b, ",\"quota_id\":");
        render_string(b, e->quota_id);
        render_literal(b, ",\"paused_until\":");
        render_time(b, e->kind == EVT_QUOTA_PAUSED ? e->quota_until_ms : 0);
        evbuffer_add_printf(b, ",\"concurrency_limit\":%" PRIu32, e->quota_limit);
    } else if (e->kind >= EVT_TASK_SUBMITTED) {
        render_literal(b, ",\"task_id\":");
        render_string(b, e->task_id);
        render_literal(b, ",\"task_type\":");
        render_string(b, e->task_type);
        add_status(b, "old_status", e->kind, e->old_status);
        add_status(b, "new_status", e->kind, e->new_status);
        evbuffer_add_printf(b, ",\"attempt\":%" PRIu32, e->attempt);
        if (e->kind == EVT_TASK_SUBMITTED && e->priority >= 0)
            evbuffer_add_printf(b, ",\"priority\":\"%s\"", cp_priority_name(e->priority));
        if (e->kind == EVT_TASK_REQUEUED || e->kind == EVT_TASK_RELEASED)
            evbuffer_add_printf(b, ",\"reason\":\"%s\"",
                                e->kind == EVT_TASK_RELEASED ? "released" : "agent");
    } else if (e->kind == EVT_AGENT_HEALTH) {
        render_literal(b, ",\"old_health\":");
        render_string(b, e->old_status >= 0 ? cp_health_name(e->old_status) : NULL);
        render_literal(b, ",\"new_health\":");
        render_string(b, e->new_status >= 0 ? cp_health_name(e->new_status) : NULL);
        render_literal(b, ",\"old_circuit\":");
        render_string(b, e->old_circuit >= 0 ? cp_circuit_name(e->old_circuit) : NULL);
        render_literal(b, ",\"new_circuit\":");
        render_string(b, e->new_circuit >= 0 ? cp_circuit_name(e->new_circuit) : NULL);
    } else if (e->kind == EVT_AGENT_REMOVED) {
        add_status(b, "old_status", e->kind, e->old_status >= 0 ? e->old_status : CP_AGENT_OFFLINE);
        render_literal(b, ",\"new_status\":\"removed\",\"removed\":true");
    } else {
        add_status(b, "old_status", e->kind, e->old_status);
        add_status(b, "new_status", e->kind, e->new_status);
    }
    render_literal(b, "}\n\n");
}

/* ---- readers ------------------------------------------------------------------------------- */

static int passes(const struct sse_filter *f, int type, const char *agent_id, const char *task_type)
{
    if (!(f->types & (1u << type))) return 0;
    if (f->task_type && (!task_type || strcmp(f->task_type, task_type) != 0)) return 0;
    if (f->agent_id && (!agent_id || strcmp(f->agent_id, agent_id) != 0)) return 0;
    return 1;
}

static void unlink_client(struct sse_client *c)
{
    struct sse_hub *hub = c->hub;
    if (!c->linked) return;
    c->linked = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        hub->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    hub->n_clients--;
    if (hub->n_clients == 0 && hub->subscribed) {
        struct timeval tv = cp_ms_to_timeval(SSE_LINGER_MS);
        evtimer_add(hub->linger, &tv);
    }
}

/* Fell behind: the last event, then the end (c stops receiving at once). */
static void cut_off(struct sse_client *c, size_t queued)
{
    char frame[256];
    int n = snprintf(frame, sizeof frame,
                     "event: overflow\ndata: {\"type\":\"overflow\",\"reason\":\"this reader fell "
                     "behind: %zu bytes were waiting, the limit is %zu "
                     "(events.client_buffer_bytes)\"}\n\n",
                     queued, c->hub->core->cfg->events_client_buffer);
    unlink_client(c);
    struct evbuffer *b = xevbuffer_new();
    evbuffer_add(b, frame, (size_t)n);
    http_stream_write(c->r, b);
    evbuffer_free(b);
    log_info("event stream: a reader was cut off (%zu bytes waiting)", queued);
    http_stream_end(c->r); /* may free c */
}

/* 0 sent, -1 cut off (c may be gone). */
static int send_to(struct sse_client *c, const char *frame, size_t len)
{
    size_t queued = http_stream_queued(c->r);
    if (queued + len > c->hub->core->cfg->events_client_buffer) {
        cut_off(c, queued);
        return -1;
    }
    struct evbuffer *b = xevbuffer_new();
    evbuffer_add(b, frame, len);
    http_stream_write(c->r, b);
    evbuffer_free(b);
    return 0;
}

static void broadcast_control(struct sse_hub *hub, const char *frame)
{
    size_t len = strlen(frame);
    for (struct sse_client *c = hub->clients, *next; c; c = next) {
        next = c->next;
        send_to(c, frame, len);
    }
}

#define RESYNC_GAP                                                                                 \
    "event: resync\ndata: {\"type\":\"resync\",\"reason\":\"changes may have been missed (the "    \
    "store's change feed was interrupted); reload the state\"}\n\n"

/* ---- the source ------------------------------------------------------------------------- */

static void on_change(void *arg, const struct domain_event *e)
{
    struct sse_hub *hub = arg;
    if (e->kind == EVT_GAP) {
        ring_clear(hub);
        broadcast_control(hub, RESYNC_GAP);
        return;
    }
    int t = type_of(e);
    if (t < 0 || e->id == 0) return;
    if (!hub->floor_known) {
        hub->floor = e->id - 1;
        hub->floor_known = 1;
    }
    struct evbuffer *b = xevbuffer_new();
    render_frame(b, t, e);
    struct sse_entry *en = ring_push(hub);
    en->id = e->id;
    en->type = t;
    en->agent_id = e->agent_id ? xstrdup(e->agent_id) : NULL;
    en->task_type = e->task_type ? xstrdup(e->task_type) : NULL;
    en->len = evbuffer_get_length(b);
    en->frame = xmalloc(en->len);
    evbuffer_remove(b, en->frame, en->len);
    evbuffer_free(b);
    for (struct sse_client *c = hub->clients, *next; c; c = next) {
        next = c->next;
        if (passes(&c->f, t, en->agent_id, en->task_type)) send_to(c, en->frame, en->len);
    }
}

static void subscribe(struct sse_hub *hub)
{
    evtimer_del(hub->linger);
    if (hub->subscribed) return;
    hub->subscribed = 1;
    hub->floor_known = 0;
    ops_feed_subscribe(hub->core, on_change, hub);
}

static void unsubscribe(struct sse_hub *hub)
{
    if (!hub->subscribed) return;
    hub->subscribed = 0;
    ops_feed_unsubscribe(hub->core, on_change, hub);
    ring_free(hub);
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct sse_hub *hub = arg;
    if (hub->n_clients == 0) unsubscribe(hub);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct sse_hub *hub = arg;
    broadcast_control(hub, ": keepalive\n\n");
    struct timeval tv = cp_ms_to_timeval(hub->core->cfg->events_keepalive_ms);
    evtimer_add(hub->keepalive, &tv);
}

/* ---- attaching a reader ------------------------------------------------------------------- */

static void on_stream_closed(struct req *r)
{
    struct sse_client *c = r->ctx;
    unlink_client(c);
    free(c->f.task_type);
    free(c->f.agent_id);
    free(c);
    r->ctx = NULL;
}

/* The kept events after last_id; a resync first when that is not possible. */
static void replay(struct sse_hub *hub, struct sse_client *c, uint64_t last_id)
{
    uint64_t newest = hub->n ? hub->ring[(hub->head + hub->n - 1) % hub->cap].id : hub->floor;
    if (!hub->floor_known || last_id < hub->floor || last_id > newest) {
        char frame[320];
        snprintf(frame, sizeof frame,
                 "event: resync\ndata: {\"type\":\"resync\",\"reason\":\"Last-Event-ID %" PRIu64
                 " is %s; reload the state\"}\n\n",
                 last_id,
                 !hub->floor_known || last_id < hub->floor
                     ? "older than the events kept (events.history)"
                     : "not known here");
        send_to(c, frame, strlen(frame));
        return;
    }
    for (uint32_t i = 0; i < hub->n; i++) {
        const struct sse_entry *en = &hub->ring[(hub->head + i) % hub->cap];
        if (en->id <= last_id || !passes(&c->f, en->type, en->agent_id, en->task_type)) continue;
        if (send_to(c, en->frame, en->len) < 0) return;
    }
}

void sse_hub_attach(struct sse_hub *hub, struct req *r, struct sse_filter *f, int has_last_id,
                    uint64_t last_id)
{
    struct sse_client *c = xcalloc(1, sizeof *c);
    c->hub = hub;
    c->r = r;
    c->f = *f;
    memset(f, 0, sizeof *f);
    r->ctx = c;
    if (http_stream_start(r, 200, "text/event-stream", on_stream_closed) < 0) {
        r->ctx = NULL;
        free(c->f.task_type);
        free(c->f.agent_id);
        free(c);
        http_reply_error(r, 400, "bad_request", "the connection is gone");
        return;
    }
    subscribe(hub); /* before the replay: nothing can happen in between (one thread) */
    c->linked = 1;
    c->next = hub->clients;
    if (hub->clients) hub->clients->prev = c;
    hub->clients = c;
    hub->n_clients++;
    char hello[96];
    snprintf(hello, sizeof hello, ": cpd event stream\nretry: %d\n\n", SSE_RETRY_MS);
    if (send_to(c, hello, strlen(hello)) < 0) return;
    if (has_last_id) replay(hub, c, last_id);
}

/* ---- life ---------------------------------------------------------------------------------- */

struct sse_hub *sse_hub_new(struct cp_core *core)
{
    struct sse_hub *hub = xcalloc(1, sizeof *hub);
    hub->core = core;
    hub->linger = xevtimer_new(core->base, on_linger, hub);
    hub->keepalive = xevtimer_new(core->base, on_keepalive, hub);
    struct timeval tv = cp_ms_to_timeval(core->cfg->events_keepalive_ms);
    evtimer_add(hub->keepalive, &tv);
    return hub;
}

void sse_hub_free(struct sse_hub *hub)
{
    if (!hub) return;
    while (hub->clients)
        unlink_client(hub->clients); /* their connections are gone with evhttp */
    unsubscribe(hub);
    event_free(hub->linger);
    event_free(hub->keepalive);
    ring_free(hub);
    free(hub);
}

size_t sse_hub_readers(const struct sse_hub *hub)
{
    return hub ? hub->n_clients : 0;
}
