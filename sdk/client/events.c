/* events.c — cp_client_events(): the event stream (GET /events, Server-Sent Events) read on
 * the client's libcurl handle and handed to a callback event by event, with reconnection from
 * the last id seen (Last-Event-ID) when asked.
 *
 * The parser follows the SSE rules cpd's stream needs: "field: value" lines, a blank line ends
 * an event, ':' starts a comment (the keep-alive), "retry:" sets the reconnection delay, the id
 * persists from event to event. An event larger than CPC_EVENT_MAX is refused (the stream is
 * dropped with CPC_ERR_PROTOCOL): memory stays bounded whatever the server sends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define CPC_EVENT_MAX (1u << 20) /* one event's data */
#define CPC_LINE_MAX (1u << 20)  /* one line */
#define CPC_EVENTS_IDLE_MS 60000 /* nothing at all (not even a keep-alive) for this long */
#define CPC_ERROR_BODY_MAX 65536 /* a refusal's body kept for the message */
#define CPC_RETRY_DEFAULT_MS 3000

struct stream {
    cp_client *c;
    cpc_event_fn fn;
    void *arg;
    long status; /* HTTP status, once the first body bytes came */
    int is_sse;  /* Content-Type text/event-stream */
    int stopped; /* fn asked to stop */
    int too_big; /* a line or an event over the limits */
    int nomem;
    char *line; /* the line being read */
    size_t line_len, line_cap;
    char *data; /* the event's data lines, joined with \n */
    size_t data_len, data_cap;
    int has_data;
    char type[64];
    char id[64]; /* the last id (persists) */
    long retry_ms;
    char *err_body; /* a refusal's body */
    size_t err_len;
    int64_t last_byte_ms; /* monotonic */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int grow(char **buf, size_t *cap, size_t need, size_t max, struct stream *s)
{
    if (need <= *cap) return 0;
    if (need > max) {
        s->too_big = 1;
        return -1;
    }
    size_t cap2 = *cap ? *cap : 256;
    while (cap2 < need)
        cap2 *= 2;
    if (cap2 > max) cap2 = max;
    char *b = realloc(*buf, cap2);
    if (!b) {
        s->nomem = 1;
        return -1;
    }
    *buf = b;
    *cap = cap2;
    return 0;
}

static void dispatch(struct stream *s)
{
    if (!s->has_data) {
        s->type[0] = '\0';
        return;
    }
    s->data[s->data_len] = '\0';
    struct cpc_event ev = {s->id, s->type[0] ? s->type : "message", s->data};
    if (s->fn(s->arg, &ev) != 0) s->stopped = 1;
    s->type[0] = '\0';
    s->data_len = 0;
    s->has_data = 0;
}

/* One complete line (without its end). -1 stops the transfer. */
static int take_line(struct stream *s, char *line, size_t len)
{
    if (len && line[len - 1] == '\r') len--;
    line[len] = '\0';
    if (len == 0) {
        dispatch(s);
        return s->stopped ? -1 : 0;
    }
    if (line[0] == ':') return 0; /* a comment: the keep-alive */
    char *colon = strchr(line, ':');
    const char *value = "";
    if (colon) {
        *colon = '\0';
        value = colon + 1;
        if (*value == ' ') value++;
    }
    if (strcmp(line, "data") == 0) {
        size_t vlen = strlen(value);
        size_t need = s->data_len + (s->has_data ? 1 : 0) + vlen + 1;
        if (grow(&s->data, &s->data_cap, need, CPC_EVENT_MAX, s) < 0) return -1;
        if (s->has_data) s->data[s->data_len++] = '\n';
        memcpy(s->data + s->data_len, value, vlen);
        s->data_len += vlen;
        s->has_data = 1;
    } else if (strcmp(line, "event") == 0) {
        snprintf(s->type, sizeof s->type, "%s", value);
    } else if (strcmp(line, "id") == 0) {
        snprintf(s->id, sizeof s->id, "%s", value);
    } else if (strcmp(line, "retry") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        if (*value && !*end && v >= 0 && v <= 3600000) s->retry_ms = v;
    }
    return 0;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct stream *s = ud;
    size_t n = size * nmemb;
    s->last_byte_ms = mono_ms();
    if (!s->status) {
        curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &s->status);
        char *ct = NULL;
        curl_easy_getinfo(s->c->curl, CURLINFO_CONTENT_TYPE, &ct);
        s->is_sse = ct && strncmp(ct, "text/event-stream", 17) == 0;
    }
    if (s->status != 200 || !s->is_sse) { /* a refusal: keep (the start of) its body */
        size_t take = n;
        if (s->err_len + take > CPC_ERROR_BODY_MAX) take = CPC_ERROR_BODY_MAX - s->err_len;
        char *b = realloc(s->err_body, s->err_len + take + 1);
        if (!b) {
            s->nomem = 1;
            return 0;
        }
        s->err_body = b;
        memcpy(s->err_body + s->err_len, p, take);
        s->err_len += take;
        s->err_body[s->err_len] = '\0';
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n') {
            if (grow(&s->line, &s->line_cap, s->line_len + 2, CPC_LINE_MAX, s) < 0) return 0;
            s->line[s->line_len++] = p[i];
            continue;
        }
        if (grow(&s->line, &s->line_cap, s->line_len + 1, CPC_LINE_MAX, s) < 0) return 0;
        size_t len = s->line_len;
        s->line_len = 0;
        if (take_line(s, s->line, len) < 0) return 0;
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct stream *s = ud;
    if (atomic_load(&s->c->interrupt_requested)) return 1;
    return mono_ms() - s->last_byte_ms > CPC_EVENTS_IDLE_MS;
}

static int build_path(struct cpc_buf *b, const struct cpc_events_options *o)
{
    cpc_buf_add(b, "/events");
    if (o && o->types) cpc_buf_add_param(b, "types", o->types);
    if (o && o->task_type) cpc_buf_add_param(b, "task_type", o->task_type);
    if (o && o->agent_id) cpc_buf_add_param(b, "agent_id", o->agent_id);
    return b->failed ? -1 : 0;
}

/* One connection: CPC_OK when the server ended the stream (or fn stopped), else an error. */
static int read_once(cp_client *c, struct stream *s, const char *url)
{
    char last_id[96] = "";
    if (s->id[0]) snprintf(last_id, sizeof last_id, "Last-Event-ID: %s", s->id);
    const char *lines[] = {"Accept: text/event-stream", c->auth_header,
                           last_id[0] ? last_id : NULL};
    struct curl_slist *headers = NULL;
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        if (!lines[i]) continue;
        struct curl_slist *next = curl_slist_append(headers, lines[i]);
        if (!next) {
            curl_slist_free_all(headers);
            return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
        }
        headers = next;
    }
    CURL *h = c->curl;
    s->status = 0;
    s->is_sse = 0;
    s->line_len = s->data_len = 0;
    s->has_data = 0;
    s->type[0] = '\0';
    s->err_len = 0;
    s->last_byte_ms = mono_ms();
    c->curl_err[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 0L); /* a stream has no end; on_progress watches */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (s->status) c->last_status = (int)s->status;
    if (s->stopped) return CPC_OK;
    if (s->nomem) return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    if (s->too_big)
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "%s: an event larger than %u bytes", url,
                             CPC_EVENT_MAX);
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        if (atomic_exchange(&c->interrupt_requested, 0))
            return cpc_set_error(c, CPC_ERR_INTERRUPTED, "interrupted");
        return cpc_set_error(c, CPC_ERR_TIMEOUT, "%s: nothing received for %d s", url,
                             CPC_EVENTS_IDLE_MS / 1000);
    }
    if (rc != CURLE_OK)
        return cpc_set_error(c, CPC_ERR_TRANSPORT, "%s: %s", url,
                             c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc));
    if (s->status != 200) {
        int err = cpc_status_error(c, s->status, s->err_body, s->err_len);
        return err;
    }
    if (!s->is_sse)
        return cpc_set_error(c, CPC_ERR_PROTOCOL, "%s: the answer is not text/event-stream", url);
    return CPC_OK; /* the server ended the stream */
}

/* Waits ms, waking for cp_client_interrupt(). 0, or CPC_ERR_INTERRUPTED. */
static int pause_ms(cp_client *c, long ms)
{
    for (long left = ms; left > 0; left -= 100) {
        if (atomic_exchange(&c->interrupt_requested, 0))
            return cpc_set_error(c, CPC_ERR_INTERRUPTED, "interrupted");
        struct timespec ts = {0, (left < 100 ? left : 100) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int cp_client_events(cp_client *c, const struct cpc_events_options *opt, cpc_event_fn fn, void *arg)
{
    if (!c || !fn) return CPC_ERR_INVALID;
    cpc_reset_error(c);
    if (atomic_exchange(&c->interrupt_requested, 0))
        return cpc_set_error(c, CPC_ERR_INTERRUPTED, "interrupted");
    if (opt && opt->last_event_id &&
        (strlen(opt->last_event_id) >= 64 || strpbrk(opt->last_event_id, "\r\n")))
        return cpc_set_error(c, CPC_ERR_INVALID, "last_event_id is not an event id");
    struct cpc_buf path = {0};
    struct cpc_buf url = {0};
    if (build_path(&path, opt) == 0) {
        cpc_buf_add(&url, c->base);
        cpc_buf_add(&url, path.s);
    }
    if (path.failed || url.failed || !url.s) {
        free(path.s);
        free(url.s);
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    }
    struct stream s = {.c = c, .fn = fn, .arg = arg, .retry_ms = CPC_RETRY_DEFAULT_MS};
    if (opt && opt->last_event_id) snprintf(s.id, sizeof s.id, "%s", opt->last_event_id);
    int err;
    for (;;) {
        c->interruptible = 1;
        err = read_once(c, &s, url.s);
        c->interruptible = 0;
        if (s.stopped || !opt || !opt->reconnect) break;
        /* Reconnect after the server's delay, unless it refused us or we were stopped. */
        if (err == CPC_ERR_INTERRUPTED || err == CPC_ERR_NOMEM || err == CPC_ERR_INVALID ||
            err == CPC_ERR_UNAUTHORIZED || err == CPC_ERR_FORBIDDEN || err == CPC_ERR_NOT_FOUND ||
            err == CPC_ERR_PROTOCOL)
            break;
        if ((err = pause_ms(c, s.retry_ms)) != 0) break;
        cpc_reset_error(c);
    }
    free(s.line);
    free(s.data);
    free(s.err_body);
    free(path.s);
    free(url.s);
    return err;
}
