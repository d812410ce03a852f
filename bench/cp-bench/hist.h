/* hist.h — a latency histogram with log-linear buckets (HdrHistogram's layout, 64 sub-buckets
 * per power of two: every recorded value is kept within 1/64 ≈ 1.6% of its true size).
 *
 * Values are microseconds. Fixed memory (no allocation after hist_init), O(1) record, so that
 * recording on the hot path costs nothing measurable. */
#ifndef CPB_HIST_H
#define CPB_HIST_H

#include <stdint.h>

#define HIST_SUB 64 /* sub-buckets per power of two */
#define HIST_EXP 34 /* up to 2^40 us: far beyond any run */
#define HIST_BUCKETS (2 * HIST_SUB + HIST_EXP * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t min, max; /* exact */
    double sum;
    uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t us);
/* Merge `src` into `dst`. */
void hist_add(struct hist *dst, const struct hist *src);
/* The value at percentile p (0..100]: the highest value equivalent to the bucket that holds the
 * p-th percentile sample, capped at the exact max. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

#endif
