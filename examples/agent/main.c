/* main.c — a complete cpd agent over libcpclient, following the guide's best practices:
 * register; heartbeat from a thread at less than HEARTBEAT_TIMEOUT / 2; long-poll claim; start;
 * work; complete, or fail with requeue; on SIGTERM report draining, finish
 * the task in hand, stop heartbeating and unregister.
 *
 *   example-agent [--url URL] [--token TOKEN] [--id ID] [--capability CAP]...
 *                 [--block-ms MS] [--heartbeat-seconds S]
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cp/time.h>

#include "agent.h"

static struct agent *the_agent; /* for the signal handler */

void agent_log(const struct agent *a, const char *fmt, ...)
{
    char when[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s.%03ld %s: ", when, ts.tv_nsec / 1000000, a->id);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Async-signal-safe: an atomic store, cp_client_interrupt() (one atomic store) and sem_post. */
static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&the_agent->stop, 1);
    cp_client_interrupt(the_agent->work); /* ends a held claim now, not after block_ms */
    sem_post(&the_agent->wake);           /* the heartbeat thread reports draining at once */
}

int agent_register(struct agent *a, cp_client *c)
{
    char meta[128];
    snprintf(meta, sizeof meta, "{\"example\": true, \"pid\": %d}", (int)getpid());
    struct cpc_agent_spec spec = {.agent_id = a->id,
                                  .capabilities = a->caps,
                                  .n_capabilities = a->n_caps,
                                  .model = "toy-reverser",
                                  .provider = "example",
                                  .metadata_json = meta,
                                  .max_concurrent_tasks = 1};
    int err = cp_client_agent_register(c, &spec, NULL, NULL);
    if (err) agent_log(a, "register: %s", cp_client_last_message(c));
    return err;
}

/* Interval under HEARTBEAT_TIMEOUT / 2 (the server's default timeout is 30 s): a third of it,
 * so one lost heartbeat never makes the agent look dead. */
static long default_heartbeat_ms(void)
{
    const char *env = getenv("HEARTBEAT_TIMEOUT");
    double timeout = env ? atof(env) : 30.0;
    if (!(timeout > 0)) timeout = 30.0;
    long ms = (long)(timeout * 1000 / 3);
    return ms < 100 ? 100 : ms;
}

/* Runs one claimed task to its end. The server keeps the agent busy while it holds its
 * maximum and makes it ready when the task ends: nothing to report here (see agent.h). */
static void work_on(struct agent *a, struct cpc_task *t)
{
    int64_t t0_us = cp_monotonic_us();
    agent_log(a, "claimed %s (%s), attempt %u", t->id, t->task_type, t->attempt);
    int err = cp_client_task_start(a->work, t->id, a->id);
    if (err == CPC_ERR_CONFLICT || err == CPC_ERR_NOT_FOUND) {
        /* Cancelled (or timed out and handed on) between claim and start: not ours any more. */
        agent_log(a, "start %s: %s; skipping it", t->id, cp_client_last_message(a->work));
        return;
    }
    char *result = NULL, *error = NULL;
    int ok = handle_task(t->task_type, t->payload_json, &result, &error) == 0;
    double latency = (double)(cp_monotonic_us() - t0_us) / 1000.0;

    if (ok) {
        err = cp_client_task_complete(a->work, t->id, a->id, result, latency);
    } else {
        struct cpc_fail_result fr;
        err = cp_client_task_fail(a->work, t->id, a->id, error, latency, 1, &fr);
        if (!err)
            agent_log(a, "failed %s: %s -> %s (retries %u)", t->id, error,
                      cp_task_status_name(fr.status), fr.retries);
    }
    if (err == CPC_ERR_CONFLICT)
        agent_log(a, "%s: %s (cancelled or timed out meanwhile)", t->id,
                  cp_client_last_message(a->work));
    else if (err)
        agent_log(a, "reporting %s: %s", t->id, cp_client_last_message(a->work));
    else if (ok)
        agent_log(a, "completed %s in %.1f ms", t->id, latency);
    free(result);
    free(error);
}

static void work_loop(struct agent *a)
{
    long backoff_ms = 250;
    while (!atomic_load(&a->stop)) {
        struct cpc_task *t = NULL;
        int err = cp_client_task_claim(a->work, a->id, NULL, 0, a->block_ms, &t);
        if (err == CPC_ERR_INTERRUPTED) continue; /* SIGTERM: the loop condition ends it */
        if (err == CPC_ERR_NOT_FOUND) {
            agent_log(a, "claim: the control plane forgot this agent; re-registering");
            err = agent_register(a, a->work);
        }
        if (err) {
            agent_log(a, "claim: %s; retrying in %ld ms", cp_client_last_message(a->work),
                      backoff_ms);
            struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL); /* a signal cuts it short */
            backoff_ms = backoff_ms * 2 > 10000 ? 10000 : backoff_ms * 2;
            continue;
        }
        backoff_ms = 250;
        if (!t) continue; /* nothing within block_ms (or draining): ask again */
        work_on(a, t);
        cp_client_task_free(t);
    }
}

static int usage(FILE *f, int rc)
{
    fputs("usage: example-agent [--url URL] [--token TOKEN] [--id ID] [--capability CAP]...\n"
          "                     [--block-ms MS] [--heartbeat-seconds S]\n"
          "  --url                control plane (default $CONTROL_PLANE_URL, else " CPC_DEFAULT_URL
          ")\n"
          "  --token              bearer token (default $CONTROL_PLANE_TOKEN)\n"
          "  --id                 agent id (default example-agent-<pid>)\n"
          "  --capability         repeatable (default: reverse)\n"
          "  --block-ms           long-poll length of a claim, 1..60000 (default 30000)\n"
          "  --heartbeat-seconds  default HEARTBEAT_TIMEOUT / 3 (HEARTBEAT_TIMEOUT from the\n"
          "                       environment, else 30)\n"
          "Payloads: {\"text\": \"abc\"} -> {\"reversed\": \"cba\"}; {\"fail\": true} fails "
          "(requeued);\n"
          "{\"sleep_ms\": N} takes N ms. SIGTERM/SIGINT: drain, finish the task, unregister.\n",
          f);
    return rc;
}

static int parse_args(struct agent *a, int argc, char **argv, char *idbuf, size_t idlen)
{
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"token", required_argument, NULL, 't'},
                                         {"id", required_argument, NULL, 'i'},
                                         {"capability", required_argument, NULL, 'c'},
                                         {"block-ms", required_argument, NULL, 'b'},
                                         {"heartbeat-seconds", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "u:t:i:c:b:H:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            a->url = optarg;
            break;
        case 't':
            a->token = optarg;
            break;
        case 'i':
            a->id = optarg;
            break;
        case 'c':
            if (a->n_caps == AGENT_MAX_CAPS) return usage(stderr, 2);
            a->caps[a->n_caps++] = optarg;
            break;
        case 'b':
            a->block_ms = strtol(optarg, &end, 10);
            if (*end || a->block_ms < 1 || a->block_ms > CPC_MAX_BLOCK_MS) return usage(stderr, 2);
            break;
        case 'H': {
            double s = strtod(optarg, &end);
            if (*end || !(s > 0) || s > 3600) return usage(stderr, 2);
            a->heartbeat_ms = (long)(s * 1000);
            break;
        }
        case 'h':
            return usage(stdout, 1);
        default:
            return usage(stderr, 2);
        }
    }
    if (optind < argc) return usage(stderr, 2);
    if (!a->id) {
        snprintf(idbuf, idlen, "example-agent-%d", (int)getpid());
        a->id = idbuf;
    }
    if (!a->n_caps) a->caps[a->n_caps++] = "reverse";
    return 0;
}

int main(int argc, char **argv)
{
    struct agent a = {.url = getenv("CONTROL_PLANE_URL"),
                      .token = getenv("CONTROL_PLANE_TOKEN"),
                      .block_ms = 30000,
                      .heartbeat_ms = default_heartbeat_ms()};
    char idbuf[64];
    int rc = parse_args(&a, argc, argv, idbuf, sizeof idbuf);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.url && !*a.url) a.url = NULL;
    if (a.token && !*a.token) a.token = NULL;

    struct cpc_options opt = {.url = a.url, .token = a.token};
    if (cp_client_open(&a.work, &opt) != CPC_OK) {
        fprintf(stderr, "example-agent: bad --url\n");
        return 2;
    }
    sem_init(&a.wake, 0, 0);
    the_agent = &a;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (agent_register(&a, a.work) != CPC_OK) {
        cp_client_free(a.work);
        return 3;
    }
    agent_log(&a, "registered at %s; heartbeat every %ld ms, claims held %ld ms",
              cp_client_url(a.work), a.heartbeat_ms, a.block_ms);
    /* Signals go to this thread, so they cut a backoff sleep short; the heartbeat thread
     * inherits a mask that blocks them. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_t hb;
    int hb_err = pthread_create(&hb, NULL, heartbeat_main, &a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (hb_err) {
        agent_log(&a, "cannot start the heartbeat thread");
        cp_client_agent_unregister(a.work, a.id);
        cp_client_free(a.work);
        return 3;
    }

    work_loop(&a);

    /* Draining: the heartbeat thread has reported it already; the task in hand is finished.
     * Stop heartbeats before unregistering, or one could re-register the agent. */
    agent_log(&a, "draining: shutting down");
    atomic_store(&a.hb_quit, 1);
    sem_post(&a.wake);
    pthread_join(hb, NULL);
    cp_client_agent_heartbeat(a.work, a.id, CP_AGENT_DRAINING, NULL);
    rc = cp_client_agent_unregister(a.work, a.id) == CPC_OK ? 0 : 3;
    if (rc)
        agent_log(&a, "unregister: %s", cp_client_last_message(a.work));
    else
        agent_log(&a, "unregistered");
    cp_client_free(a.work);
    sem_destroy(&a.wake);
    return rc;
}
