/* clock.c — the core's one wall clock (CLOCK_REALTIME), frozen and advanced by tests. */
#include "clock.h"

#include <stdio.h>
#include <string.h>
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

static void put_digits(char *p, int v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Called for every timestamp of every rendered task and agent: digits are written by hand and
 * the calendar fields of the last two seconds are kept, since most timestamps share a second
 * (a claimed task's times and its deadline: two). */
void clock_format_iso(int64_t ms, char *buf, size_t len)
{
    static time_t cache_secs[2] = {-1, -1};
    static char cache_text[2][20]; /* "YYYY-MM-DDTHH:MM:SS" */
    static int last;               /* the slot used most recently */
    if (len == 0) return;
    /* Floor division so times before the epoch still get a 0..999 millisecond part. */
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    int slot = cache_secs[last] == t ? last : cache_secs[!last] == t ? !last : -1;
    if (slot < 0) {
        slot = !last; /* the least recently used */
        char *cached = cache_text[slot];
        struct tm tm;
        if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
            snprintf(buf, len, "1970-01-01T00:00:00.000Z");
            return;
        }
        put_digits(cached, tm.tm_year + 1900, 4);
        cached[4] = '-';
        put_digits(cached + 5, tm.tm_mon + 1, 2);
        cached[7] = '-';
        put_digits(cached + 8, tm.tm_mday, 2);
        cached[10] = 'T';
        put_digits(cached + 11, tm.tm_hour, 2);
        cached[13] = ':';
        put_digits(cached + 14, tm.tm_min, 2);
        cached[16] = ':';
        put_digits(cached + 17, tm.tm_sec, 2);
        cached[19] = '\0';
        cache_secs[slot] = t;
    }
    last = slot;
    char out[25];
    memcpy(out, cache_text[slot], 19);
    out[19] = '.';
    put_digits(out + 20, (int)rem, 3);
    out[23] = 'Z';
    size_t n = len - 1 < 24 ? len - 1 : 24; /* truncated, still terminated */
    memcpy(buf, out, n);
    buf[n] = '\0';
}
