/* ops_internal.c — what several ops share: domain events built from what the store returned (only
 * called when someone subscribed: ops_internal.h checks first, so a server without subscribers
 * builds none), and the answer of an op refused before it reached the store. */
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>

#include "clock.h"
#include "ops_internal.h"

void ops_fail(cp_storage_cb cb, void *cookie, int rc, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct cp_result res = {.size = sizeof res, .rc = rc, .message = msg};
    cb(cookie, &res);
}

uint32_t ops_random32(void)
{
    /* xorshift32 seeded once from the kernel: the jitter of backoffs needs spread, not
     * secrecy. */
    static uint32_t x;
    while (x == 0 && getrandom(&x, sizeof x, GRND_NONBLOCK) != (ssize_t)sizeof x)
        x = (uint32_t)clock_now_ms() | 1;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

void ops_emit_task_event(struct cp_core *core, int kind, const struct cp_task_view *t,
                         int32_t old_status, const char *agent_id)
{
    struct domain_event e = {
        .kind = kind,
        .at_ms = clock_now_ms(),
        .agent_id = agent_id ? agent_id : t->assigned_agent,
        .task_id = t->id,
        .task_type = t->task_type,
        .old_status = old_status,
        .new_status = t->status,
        .attempt = t->attempt,
        .old_circuit = -1,
        .new_circuit = -1,
        .priority = kind == EVT_TASK_SUBMITTED ? t->priority : -1,
        .task = t,
    };
    events_emit(core->events, &e);
}

void ops_emit_agent_moved(struct cp_core *core, const struct cp_result *res)
{
    int32_t before = ops_agent_before(res);
    if (!ops_events_on(core) || !res->agent || before < 0 || before == res->agent->status) return;
    ops_emit_agent_event(core, EVT_AGENT_STATUS, NULL, res->agent, before, res->agent->status);
}

void ops_emit_agent_event(struct cp_core *core, int kind, const char *agent_id,
                          const struct cp_agent_view *a, int32_t old_status, int32_t new_status)
{
    struct domain_event e = {
        .kind = kind,
        .at_ms = clock_now_ms(),
        .agent_id = agent_id ? agent_id
                    : a      ? a->agent_id
                             : NULL,
        .old_status = old_status,
        .new_status = new_status,
        .old_circuit = -1,
        .new_circuit = -1,
        .priority = -1,
        .agent = a,
    };
    events_emit(core->events, &e);
}
