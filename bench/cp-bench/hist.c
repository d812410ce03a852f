/* hist.c — log-linear latency buckets: values below 2*HIST_SUB are exact, above that each power
 * of two is split into HIST_SUB equal buckets. */
#include <string.h>

#include "hist.h"

static int msb(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

static unsigned bucket_of(uint64_t v)
{
    if (v < 2 * HIST_SUB) return (unsigned)v;
    /* shift so that v >> e falls in [HIST_SUB, 2*HIST_SUB) */
    int e = msb(v) - msb(HIST_SUB);
    if (e > HIST_EXP) return HIST_BUCKETS - 1;
    unsigned idx = 2 * HIST_SUB + (unsigned)(e - 1) * HIST_SUB + (unsigned)((v >> e) - HIST_SUB);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The highest value that lands in bucket i. */
static uint64_t bucket_high(unsigned i)
{
    if (i < 2 * HIST_SUB) return i;
    unsigned e = (i - 2 * HIST_SUB) / HIST_SUB + 1;
    uint64_t sub = (i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB;
    return ((sub + 1) << e) - 1;
}

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
}

void hist_record(struct hist *h, uint64_t us)
{
    if (h->count == 0 || us < h->min) h->min = us;
    if (us > h->max) h->max = us;
    h->count++;
    h->sum += (double)us;
    h->b[bucket_of(us)]++;
}

void hist_add(struct hist *dst, const struct hist *src)
{
    if (!src->count) return;
    if (dst->count == 0 || src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (!h->count) return 0;
    if (p >= 100.0) return h->max;
    uint64_t want = (uint64_t)((p / 100.0) * (double)h->count + 0.999999);
    if (want < 1) want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            uint64_t v = bucket_high(i);
            if (v > h->max) v = h->max;
            if (v < h->min) v = h->min;
            return v;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
