/* heartbeat.c — the example agent's liveness thread: a heartbeat every heartbeat_ms on its own
 * client (a cp_client serves one thread): liveness only, or "draining" once it is stopping. */
#include <errno.h>
#include <time.h>

#include "agent.h"

/* Waits up to ms for a wake-up (SIGTERM, shutdown); returns early when woken. */
static void nap(struct agent *a, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* sem_timedwait measures on CLOCK_REALTIME */
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (sem_timedwait(&a->wake, &ts) != 0 && errno == EINTR) {
    }
}

void *heartbeat_main(void *arg)
{
    struct agent *a = arg;
    struct cpc_options opt = {.url = a->url, .token = a->token, .timeout_ms = a->heartbeat_ms};
    cp_client *c = NULL;
    if (cp_client_open(&c, &opt) != CPC_OK) {
        agent_log(a, "heartbeat: cannot create a client");
        return NULL;
    }
    int last_err = CPC_OK;
    while (!atomic_load(&a->hb_quit)) {
        int status = atomic_load(&a->stop) ? CP_AGENT_DRAINING : -1;
        int err = cp_client_agent_heartbeat(c, a->id, status, NULL);
        if (err == CPC_ERR_NOT_FOUND) {
            /* Silent too long (3 x HEARTBEAT_TIMEOUT) and removed by the cleanup pass: come
             * back rather than heartbeat into the void. */
            agent_log(a, "heartbeat: the control plane forgot this agent; re-registering");
            agent_register(a, c);
        } else if (err != CPC_OK && err != last_err) {
            agent_log(a, "heartbeat: %s", cp_client_last_message(c));
        } else if (err == CPC_OK && last_err != CPC_OK) {
            agent_log(a, "heartbeat: control plane reachable again");
        }
        last_err = err;
        nap(a, a->heartbeat_ms);
    }
    cp_client_free(c);
    return NULL;
}
