/* memory_store_bench.c — in-process micro-benchmark of the in-memory store: fill it with pending
 * tasks over a number of distinct capability sets, then time individual claims by agents with
 * varied capability sets, and report the resident memory each pending task costs.
 *
 *   memory_store_bench [--tasks N] [--sets S] [--claims C] [--agents A] [--payload BYTES]
 *                   [--plugin PATH]
 *
 * Prints figures; it is not a test. Build it in Release without sanitizers for real numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cp/storage.h>
#include <cp/time.h>

#include "plugin_loader.h"

#define N_CAPS 12
#define T0 ((int64_t)1700000000000)

struct opts {
    unsigned long tasks, sets, claims, agents, payload;
    const char *plugin;
};

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static double now_us(void)
{
    return (double)cp_monotonic_us();
}

/* Resident set size in bytes, from /proc/self/statm. */
static long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static const char *cap_names[N_CAPS] = {"cap00", "cap01", "cap02", "cap03", "cap04", "cap05",
                                        "cap06", "cap07", "cap08", "cap09", "cap10", "cap11"};

/* A capability set as a bit mask over cap_names; the array form is sorted by construction. */
static uint32_t mask_to_caps(uint32_t mask, const char **out)
{
    uint32_t n = 0;
    for (int i = 0; i < N_CAPS; i++)
        if (mask & (1u << i)) out[n++] = cap_names[i];
    return n;
}

struct last {
    int rc;
    int got_task;
};

static void on_result(void *cookie, const struct cp_result *res)
{
    struct last *l = cookie;
    l->rc = res->rc;
    l->got_task = res->task != NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || i + 1 >= argc) return -1;
        const char *v = argv[++i];
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        if (strcmp(a, "--plugin") == 0) {
            o->plugin = v;
            continue;
        }
        if (*end || n == 0) return -1;
        if (strcmp(a, "--tasks") == 0)
            o->tasks = n;
        else if (strcmp(a, "--sets") == 0)
            o->sets = n;
        else if (strcmp(a, "--claims") == 0)
            o->claims = n;
        else if (strcmp(a, "--agents") == 0)
            o->agents = n;
        else if (strcmp(a, "--payload") == 0)
            o->payload = n;
        else
            return -1;
    }
    if (o->sets > (1u << N_CAPS) - 1 || o->payload < 16) return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {1000000, 50, 100000, 200, 100, CP_PLUGIN_DIR "/memory.so"};
    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: memory_store_bench [--tasks N] [--sets S (<= 4095)] [--claims C] "
                        "[--agents A] [--payload BYTES (>= 16)] [--plugin PATH]\n");
        return 2;
    }
    struct plugin_set set = {0};
    char err[512];
    struct plugin *p = plugin_load(&set, o.plugin, CP_PLUGIN_STORAGE, NULL, 0, err, sizeof err);
    if (!p) {
        fprintf(stderr, "memory_store_bench: %s\n", err);
        return 1;
    }
    const struct cp_storage_ops *ops = p->ops;
    void *st = p->state;
    struct last l;

    /* Distinct capability sets of 1-3 capabilities each. */
    uint32_t *sets = calloc(o.sets, sizeof *sets);
    for (unsigned long s = 0; s < o.sets;) {
        uint32_t mask = 0;
        for (uint32_t k = 1 + rnd(3); __builtin_popcount(mask) < (int)k;)
            mask |= 1u << rnd(N_CAPS);
        int dup = 0;
        for (unsigned long j = 0; j < s; j++)
            dup |= sets[j] == mask;
        if (!dup) sets[s++] = mask;
    }

    /* A JSON payload of exactly o.payload bytes. */
    char *payload = malloc(o.payload + 1);
    memset(payload, 'x', o.payload);
    memcpy(payload, "{\"data\":\"", 9);
    memcpy(payload + o.payload - 2, "\"}", 2);
    payload[o.payload] = '\0';

    long rss0 = rss_bytes();
    double t_start = now_us();
    char id[40];
    const char *caps[N_CAPS];
    for (unsigned long i = 0; i < o.tasks; i++) {
        struct cp_task_view t;
        memset(&t, 0, sizeof t);
        t.size = sizeof t;
        snprintf(id, sizeof id, "task_%024lx", i * 2654435761UL);
        t.id = id;
        t.task_type = "bench";
        t.payload_json = payload;
        t.required_capabilities = caps;
        t.n_required = mask_to_caps(sets[i % o.sets], caps);
        t.priority = (int32_t)rnd(CP_PRIORITY_COUNT);
        t.created_at_ms = t.pending_since_ms = T0 + (int64_t)i;
        t.timeout_ms = 300000;
        t.max_retries = 3;
        t.metadata_json = "{}";
        ops->task_submit(st, &t, on_result, &l);
        if (l.rc != 0) {
            fprintf(stderr, "memory_store_bench: submit %lu failed: %d\n", i, l.rc);
            return 1;
        }
    }
    double submit_s = (now_us() - t_start) / 1e6;
    long rss1 = rss_bytes();

    /* Agents: a quarter hold every capability, the rest 3-6 random ones. Their limit is high
     * so that claims measure the scheduler, not the busy rule. */
    char(*names)[32] = calloc(o.agents, sizeof *names);
    for (unsigned long a = 0; a < o.agents; a++) {
        uint32_t mask = (1u << N_CAPS) - 1;
        if (a % 4 != 0) {
            mask = 0;
            for (uint32_t k = 3 + rnd(4); __builtin_popcount(mask) < (int)k;)
                mask |= 1u << rnd(N_CAPS);
        }
        snprintf(names[a], sizeof names[a], "agent-%04lu", a);
        struct cp_agent_view in;
        memset(&in, 0, sizeof in);
        in.size = sizeof in;
        in.agent_id = names[a];
        in.capabilities = caps;
        in.n_capabilities = mask_to_caps(mask, caps);
        in.model = "m";
        in.provider = "p";
        in.metadata_json = "{}";
        in.max_concurrent_tasks = 1u << 30;
        ops->agent_register(st, &in, T0, on_result, &l);
    }

    double *lat = malloc(o.claims * sizeof *lat);
    unsigned long got = 0;
    t_start = now_us();
    for (unsigned long c = 0; c < o.claims; c++) {
        struct cp_claim cl = {.agent_id = names[rnd((uint32_t)o.agents)],
                              .now_ms = T0 + (int64_t)o.tasks + (int64_t)c};
        double t0 = now_us();
        ops->task_claim(st, &cl, on_result, &l);
        lat[c] = now_us() - t0;
        got += l.got_task;
    }
    double claim_s = (now_us() - t_start) / 1e6;
    qsort(lat, o.claims, sizeof *lat, cmp_double);
    double sum = 0;
    unsigned long slow = 0;
    for (unsigned long c = 0; c < o.claims; c++) {
        sum += lat[c];
        slow += lat[c] > 100;
    }

    printf("memory_store_bench\n");
    printf("  pending tasks      %lu (payload %lu bytes, %lu capability sets)\n", o.tasks,
           o.payload, o.sets);
    printf("  submit             %.2f s (%.0f tasks/s)\n", submit_s, (double)o.tasks / submit_s);
    printf("  RSS                %.1f MiB -> %.1f MiB\n", (double)rss0 / 1048576.0,
           (double)rss1 / 1048576.0);
    printf("  RSS per task       %.0f bytes\n", (double)(rss1 - rss0) / (double)o.tasks);
    printf("  claims             %lu by %lu agents (%lu got a task), %.0f claims/s\n", o.claims,
           o.agents, got, (double)o.claims / claim_s);
    printf("  claim latency      p50 %.2f us, p99 %.2f us, p99.9 %.2f us, max %.2f us, "
           "mean %.2f us\n",
           lat[o.claims / 2], lat[(size_t)((double)o.claims * 0.99)],
           lat[(size_t)((double)o.claims * 0.999)], lat[o.claims - 1], sum / (double)o.claims);
    /* Wall-clock timing: on a busy machine a preempted claim shows up here, not in p99. */
    printf("  claims > 100 us    %lu\n", slow);

    free(lat);
    free(names);
    free(payload);
    free(sets);
    plugin_set_unload(&set);
    return 0;
}
