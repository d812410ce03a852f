/* args.h — cp-bench's options: the target (loopback only), the scenario and its knobs. */
#ifndef CPB_ARGS_H
#define CPB_ARGS_H

#include <stdint.h>

enum scenario {
    SC_LIFECYCLE, /* submitters POST /tasks; agents long-poll claim -> complete */
    SC_HEARTBEAT, /* POST /agents/:id/heartbeat */
    SC_READ,      /* GET /agents/:id */
    SC_SELECT,    /* GET /agents/select?capability=... */
    SC_WAKEUP,    /* held claimers; submits at --rate; submit-to-delivery latency */
    SC_CLAIM,     /* claim (block_ms 0) -> complete, over whatever is pending */
    SC_FILL,      /* bulk: register --agents, submit --tasks */
    SC_RAW,       /* one fixed request against any loopback server (calibration vs wrk) */
};

struct args {
    enum scenario scenario;
    const char *scenario_name;
    char host[64]; /* numeric loopback address */
    int port;
    int connections;   /* -c: agent / request connections */
    int submitters;    /* -m: submitter connections (lifecycle, wakeup) */
    double duration_s; /* -d: measured seconds */
    double warmup_s;   /* not measured, before -d */
    uint64_t max_ops;  /* -n: stop after this many primary operations (0 = no bound) */
    uint64_t agents;   /* --agents: registered agents (ids <prefix>-0 .. N-1) */
    uint64_t tasks;    /* --tasks: fill only */
    uint32_t batch; /* --batch: fill submits in POST /tasks/batch of this many (1: POST /tasks) */
    uint32_t block_ms; /* long-poll hold of claims */
    double rate;       /* wakeup: submits per second */
    uint64_t backlog;  /* lifecycle: at most this many submitted but not completed */
    uint32_t payload_bytes;
    const char *capability;
    const char *prefix; /* agent id prefix */
    const char *token;  /* bearer token, or NULL */
    int setup;          /* register the agents before measuring (default on) */
    int json;
    /* raw */
    const char *method;
    const char *path;
    const char *body;
};

/* Parse argv. Returns 0, 1 when --help was printed, or -1 after printing an error (which names
 * the option and what is allowed). Refuses any target that is not on the loopback. */
int args_parse(struct args *a, int argc, char **argv);

#endif
