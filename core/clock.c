/* clock.c — the core's one wall clock (CLOCK_REALTIME), frozen and advanced by tests. */
#include "clock.h"

#include <stdio.h>
#include <time.h>

/* 0 = real time. Single-threaded like the rest of the core, so a plain static suffices. */
static int64_t fake_ms;

int64_t clock_now_ms(void)
{
    if (fake_ms != 0) return fake_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_set_fake(int64_t ms)
{
    fake_ms = ms;
}

void clock_advance_fake(int64_t ms)
{
    /* Advancing the real clock makes no sense; start from "now" so tests can freeze lazily. */
    if (fake_ms == 0) fake_ms = clock_now_ms();
    fake_ms += ms;
}

void clock_format_iso(int64_t ms, char *buf, size_t len)
{
    if (len == 0) return;
    /* Floor division so times before the epoch still get a 0..999 millisecond part. */
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, len, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
}
