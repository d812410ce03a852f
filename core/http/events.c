/* events.c — GET /api/control-plane/events: the event stream (Server-Sent Events; the hub is
 * sse.c). Reader role. Filters ?types=a,b&task_type=&agent_id=; resumption from Last-Event-ID
 * (the header EventSource sends when it reconnects, or ?last_event_id=).
 *
 * Browsers' EventSource cannot send an Authorization header: on this route only, a token may
 * come as the cookie cp_token (the dashboard sets it for this path alone, SameSite=Strict); see
 * events_auth_headers(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"
#include "sse.h"
#include "validate.h"

#define COOKIE_NAME "cp_token"
#define COOKIE_TOKEN_MAX 4096

/* The value of cookie `name` in a Cookie header, copied into out (NUL-terminated), or -1. */
static int cookie_value(const char *header, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = len - nlen - 1;
            while (vlen && p[nlen + 1 + vlen - 1] == ' ')
                vlen--;
            if (vlen == 0 || vlen >= outlen) return -1;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return 0;
        }
        p = end;
    }
    return -1;
}

const struct evkeyvalq *events_auth_headers(const struct evkeyvalq *in, struct evkeyvalq *scratch)
{
    if (evhttp_find_header(in, "Authorization")) return in;
    const char *cookie = evhttp_find_header(in, "Cookie");
    char token[COOKIE_TOKEN_MAX];
    if (!cookie || cookie_value(cookie, COOKIE_NAME, token, sizeof token) < 0) return in;
    char bearer[COOKIE_TOKEN_MAX + 8];
    memcpy(bearer, "Bearer ", 7);
    memcpy(bearer + 7, token, strlen(token) + 1);
    evhttp_add_header(scratch, "Authorization", bearer);
    memset(bearer, 0, sizeof bearer); /* a secret: not left on the stack */
    memset(token, 0, sizeof token);
    return scratch;
}

/* "a,b,c" of event names into a mask; -1 with a reply on an unknown name. */
static int parse_types(struct req *r, const char *list, uint32_t *mask)
{
    *mask = 0;
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            int t = sse_type_from_name(p, len);
            if (t < 0) {
                http_reply_error(r, 400, "invalid_field",
                                 "types: '%.*s' is not an event type; known: agent_registered, "
                                 "agent_unregistered, agent_status_changed, task_submitted, "
                                 "task_claimed, task_started, task_completed, task_failed, "
                                 "task_requeued, task_timeout, task_cancelled, health_update",
                                 (int)(len > 64 ? 64 : len), p);
                return -1;
            }
            *mask |= 1u << t;
        }
        if (!end) break;
        p = end + 1;
    }
    if (*mask == 0) {
        http_reply_error(r, 400, "invalid_field", "types: name at least one event type");
        return -1;
    }
    return 0;
}

static int parse_last_id(struct req *r, const char *s, uint64_t *out)
{
    errno = 0;
    char *end;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    if (!(s[0] >= '0' && s[0] <= '9') || errno || *end) {
        http_reply_error(r, 400, "invalid_field",
                         "Last-Event-ID must be an event id (a decimal number) as sent in id:");
        return -1;
    }
    *out = v;
    return 0;
}

void events_stream(struct req *r)
{
    struct sse_filter f = {.types = SSE_ALL_TYPES};
    const char *types = http_query(r, "types");
    const char *task_type = http_query(r, "task_type");
    const char *agent_id = http_query(r, "agent_id");
    const char *last = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Last-Event-ID");
    if (!last) last = http_query(r, "last_event_id");
    uint64_t last_id = 0;
    if (types && parse_types(r, types, &f.types) < 0) return;
    if (task_type && check_identifier(r, "task_type", task_type) < 0) return;
    if (agent_id && check_identifier(r, "agent_id", agent_id) < 0) return;
    if (last && *last && parse_last_id(r, last, &last_id) < 0) return;
    f.task_type = task_type ? xstrdup(task_type) : NULL;
    f.agent_id = agent_id ? xstrdup(agent_id) : NULL;
    sse_hub_attach(http_sse_hub(r), r, &f, last && *last, last_id);
}
