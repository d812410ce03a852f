/* health_rules.c — the pure health rules of docs/api.md: probe thresholds, the slow-probe rule,
 * the per-agent circuit breaker and the system status. No I/O, no clock: `now_ms` is passed in,
 * so every transition is unit-tested (tests/unit/test_health_rules.c). */
#include "health.h"

/* Cooldown of an opening after `reopens` consecutive re-openings: cooldown_ms doubled per
 * re-opening, at most max_cooldown_ms. Doubling stops at the cap, so it never overflows. */
static int64_t breaker_cooldown(const struct health_rules *r, uint32_t reopens)
{
    int64_t cd = r->cooldown_ms > 0 ? r->cooldown_ms : 0;
    int64_t cap = r->max_cooldown_ms > 0 ? r->max_cooldown_ms : cd;
    for (uint32_t i = 0; i < reopens && cd < cap; i++)
        cd *= 2;
    return cd < cap ? cd : cap;
}

static void breaker_open(const struct health_rules *r, struct cp_health_view *h, int64_t now_ms)
{
    h->circuit = CP_CIRCUIT_OPEN;
    h->opened_at_ms = now_ms;
    h->retry_at_ms = now_ms + breaker_cooldown(r, h->circuit_opens);
}

static void breaker_close(struct cp_health_view *h)
{
    h->circuit = CP_CIRCUIT_CLOSED;
    h->circuit_failures = 0;
    h->circuit_opens = 0;
    h->opened_at_ms = 0;
    h->retry_at_ms = 0;
}

/* One outcome (probe, task completion/failure, timeout) seen by the breaker. An open circuit
 * whose retry_at has passed is half_open first, so a late tick never loses an outcome. */
static void breaker_feed(const struct health_rules *r, struct cp_health_view *h, int ok,
                         int64_t now_ms)
{
    uint32_t threshold = r->failure_threshold > 0 ? r->failure_threshold : 1;

    health_apply_tick(r, h, now_ms);
    switch (h->circuit) {
    case CP_CIRCUIT_HALF_OPEN:
        if (ok) {
            breaker_close(h);
        } else {
            h->circuit_failures++;
            h->circuit_opens++;
            breaker_open(r, h, now_ms);
        }
        break;
    case CP_CIRCUIT_OPEN:
        /* Cooling down: outcomes are counted but the circuit waits for retry_at. */
        h->circuit_failures = ok ? 0 : h->circuit_failures + 1;
        break;
    default: /* closed, or a value we do not know: treat as closed */
        if (ok) {
            h->circuit_failures = 0;
        } else if (++h->circuit_failures >= threshold) {
            h->circuit_opens = 0;
            breaker_open(r, h, now_ms);
        } else {
            h->circuit = CP_CIRCUIT_CLOSED;
        }
        break;
    }
}

int health_apply_probe(const struct health_rules *r, struct cp_health_view *h, int32_t status,
                       int ok, double latency_ms, int64_t now_ms)
{
    uint32_t unhealthy = r->unhealthy_threshold > 0 ? r->unhealthy_threshold : 1;
    uint32_t recovery = r->recovery_threshold > 0 ? r->recovery_threshold : 1;
    int ret = -1;

    (void)status; /* the caller decides whether the returned status applies (expect_status) */
    h->last_check_ms = now_ms;
    h->latency_ms = latency_ms;
    if (!ok) {
        h->consecutive_failures++;
        h->consecutive_successes = 0;
        /* Unhealthy is left only by recovering; a failure during recovery keeps it (and the
         * agent failed: the store lets a heartbeat clear failed only when not unhealthy). */
        if (h->consecutive_failures >= unhealthy || h->status == CP_HEALTH_UNHEALTHY) {
            h->status = CP_HEALTH_UNHEALTHY;
            ret = CP_AGENT_FAILED;
        } else {
            h->status = CP_HEALTH_DEGRADED;
        }
    } else {
        int32_t prev = h->status;
        int32_t next = prev;
        int slow = r->slow_probe_ms > 0 && latency_ms > (double)r->slow_probe_ms;

        h->consecutive_successes++;
        h->consecutive_failures = 0;
        /* Degraded or unhealthy agents must prove themselves recovery_threshold times in a
         * row; unknown/healthy ones are healthy at once. */
        if ((prev != CP_HEALTH_DEGRADED && prev != CP_HEALTH_UNHEALTHY) ||
            h->consecutive_successes >= recovery)
            next = CP_HEALTH_HEALTHY;
        if (slow && next == CP_HEALTH_HEALTHY) next = CP_HEALTH_DEGRADED;
        h->status = next;
        if (prev == CP_HEALTH_UNHEALTHY && next != CP_HEALTH_UNHEALTHY) ret = CP_AGENT_READY;
    }
    breaker_feed(r, h, ok, now_ms);
    return ret;
}

void health_apply_task(const struct health_rules *r, struct cp_health_view *h, int ok,
                       int64_t now_ms)
{
    breaker_feed(r, h, ok, now_ms);
}

int health_apply_tick(const struct health_rules *r, struct cp_health_view *h, int64_t now_ms)
{
    (void)r;
    if (h->circuit == CP_CIRCUIT_OPEN && now_ms >= h->retry_at_ms)
        h->circuit = CP_CIRCUIT_HALF_OPEN;
    return -1;
}

int health_system_status(uint64_t total, uint64_t degraded, uint64_t unhealthy)
{
    if (total == 0) return CP_HEALTH_HEALTHY;
    /* "more than half" / "more than a quarter", in integers: no rounding at the boundaries. */
    if (unhealthy * 2 > total) return CP_HEALTH_CRITICAL;
    if (unhealthy * 4 > total) return CP_HEALTH_UNHEALTHY;
    if (degraded > 0 || unhealthy > 0) return CP_HEALTH_DEGRADED;
    return CP_HEALTH_HEALTHY;
}
