/* random.c — selection strategy: uniform over the candidates (docs/api.md).
 *
 * xoshiro256** seeded from getrandom() (splitmix64 spreads a weak fallback seed when the kernel
 * call is unavailable), and Lemire's multiply-and-reject bounded draw, so no candidate is
 * favoured by modulo bias. Not for secrets; one generator per plugin instance, loop thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cp/selection.h>

struct rnd_state {
    uint64_t s[4];
};

static uint64_t rnd_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rnd_next(struct rnd_state *r)
{
    uint64_t *s = r->s;
    uint64_t out = rnd_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rnd_rotl(s[3], 45);
    return out;
}

static uint64_t rnd_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1 (Lemire 2019: 128-bit product, reject the biased low slice). */
static uint64_t rnd_below(struct rnd_state *r, uint64_t n)
{
    __uint128_t m = (__uint128_t)rnd_next(r) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (__uint128_t)rnd_next(r) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

static int rnd_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    (void)host;
    struct rnd_state *r = calloc(1, sizeof(*r));
    if (!r) {
        strcpy(err->msg, "random: out of memory");
        return CP_ERR_NOMEM;
    }
    if (getrandom(r->s, sizeof(r->s), GRND_NONBLOCK) != (ssize_t)sizeof(r->s)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        x ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)r;
        for (int i = 0; i < 4; i++)
            r->s[i] = rnd_splitmix(&x);
    }
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1; /* the one forbidden state */
    *state = r;
    return 0;
}

static void rnd_destroy(void *state)
{
    free(state);
}

static int rnd_select(void *state, const struct cp_agent_view *const *candidates, size_t n,
                      const struct cp_selection_ctx *ctx)
{
    (void)ctx;
    if (!state || !candidates || n == 0 || n > (size_t)INT32_MAX) return CP_ERR_INVALID;
    return (int)rnd_below(state, n);
}

static const struct cp_selection_ops rnd_ops = {
    .version = CP_SELECTION_OPS_VERSION,
    .create = rnd_create,
    .destroy = rnd_destroy,
    .select = rnd_select,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_SELECTION, "random", "1.0", &rnd_ops);
