/* cp/time.h — the two time conversions every event-loop program here needs, written once:
 * milliseconds to a libevent/select() `struct timeval`, and a monotonic clock reading.
 *
 * Inline helpers (no symbol to link): plugins, libcpclient, cpd's core, the tools and the tests
 * all use these rather than their own copies. Wall-clock time is not here: the host lends it
 * (storage ops and selection contexts carry now_ms) so tests can fake it.
 */
#ifndef CP_TIME_H
#define CP_TIME_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#ifndef CLOCK_MONOTONIC
#error "cp/time.h needs POSIX clocks: define _POSIX_C_SOURCE=200809L (or _GNU_SOURCE) first"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* `ms` as a struct timeval for evtimer_add()/event_add(). Negative values give zero (fire now);
 * values beyond 2^31 seconds are clamped so the seconds fit even a 32-bit time_t (68 years is
 * "never" enough for a timer). */
static inline struct timeval cp_ms_to_timeval(int64_t ms)
{
    struct timeval tv;
    if (ms < 0) ms = 0;
    if (ms > (int64_t)INT32_MAX * 1000) ms = (int64_t)INT32_MAX * 1000;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    return tv;
}

/* Microseconds on CLOCK_MONOTONIC: for measuring durations and deadlines, never for dates
 * (the origin is arbitrary, typically the boot). Divide by 1000 for milliseconds. */
static inline int64_t cp_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + (int64_t)(ts.tv_nsec / 1000);
}

#ifdef __cplusplus
}
#endif
#endif
