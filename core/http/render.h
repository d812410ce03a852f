/* render.h — AgentJSON / TaskJSON / HealthJSON text from storage views, written straight into
 * an evbuffer (stored JSON texts such as payload are embedded as they are, never re-parsed). */
#ifndef CORE_HTTP_RENDER_H
#define CORE_HTTP_RENDER_H

#include <event2/buffer.h>

#include <cp/storage.h>

/* A string literal's bytes, without the cost of a printf. */
#define render_literal(b, lit) evbuffer_add((b), "" lit, sizeof(lit) - 1)

void render_string(struct evbuffer *b, const char *s); /* JSON string or null */
void render_time(struct evbuffer *b, int64_t ms);      /* ISO string or null */
void render_number(struct evbuffer *b, double v);
void render_agent(struct evbuffer *b, const struct cp_agent_view *a);
void render_task(struct evbuffer *b, const struct cp_task_view *t);
/* A provider quota with its live state as of now (quotas.c). */
void render_quota(struct evbuffer *b, const struct cp_quota_view *q, int64_t now);
void render_health(struct evbuffer *b, const struct cp_agent_view *a);

#endif
