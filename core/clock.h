/* clock.h — the one clock of the core, injectable by tests.
 *
 * Durations and timers use the SDK's inline helpers, one definition for core and plugins alike:
 * cp_ms_to_timeval() for every evtimer_add() and cp_monotonic_us() for measuring (<cp/time.h>). */
#ifndef CORE_CLOCK_H
#define CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include <cp/time.h>

/* Wall-clock milliseconds since the epoch (or the fake time set by clock_set_fake). */
int64_t clock_now_ms(void);
/* Tests: freeze time at `ms` (0 returns to the real clock). */
void clock_set_fake(int64_t ms);
void clock_advance_fake(int64_t ms);

/* Format `ms` as ISO 8601 UTC with milliseconds ("2026-11-28T18:06:34.123Z"); buf >= 25. */
void clock_format_iso(int64_t ms, char *buf, size_t len);

#endif
