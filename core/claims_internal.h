/* claims_internal.h — the state of the held claims, shared by claims.c (holding, wake-ups) and
 * claims_held.c (the held set and the choice of candidates). Not for other modules. */
#ifndef CORE_CLAIMS_INTERNAL_H
#define CORE_CLAIMS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "claims.h"

#define MAX_CANDIDATES 64 /* held claimers offered one task at a time, at most */
#define ROOM_RING 256 /* the last claims_room() calls, for claims in flight (claims_room_since) */

enum { CLAIMER_HELD = 1, CLAIMER_CLAIMING };

struct held_group;
struct wake;

struct claims {
    struct cp_core *core;
    struct claims_hooks hooks;
    TAILQ_HEAD(, held_group) groups; /* held claims, one group per capability set */
    TAILQ_HEAD(, claimer) claiming;  /* claimers whose store claim is in flight */
    size_t n_held;
    size_t n_blocked; /* of them, held for room (claimer.blocked) */
    size_t n_quota;   /* of them, held back by a provider quota (claimer.quota) */
    uint64_t next_gen;
    uint64_t next_hold; /* arrival order of held claimers (ties of equal agent_id) */
    /* Bumped when a task became pending and its wake-up may have ended without placing it (no
     * held claimer left to try): a claim in flight then may have missed it. */
    uint64_t pending_seq;
    /* Bumped by every claims_room(); ring[seq % ROOM_RING] = a hash of its agent_id: whether
     * one agent got room while its claim was in flight, without a map of every agent. */
    uint64_t room_seq;
    uint64_t room_ring[ROOM_RING];
    /* Bumped by every claims_quota_room(): a claim held back by a quota whose room came while
     * it was in flight (a pub/sub message read before its reply) claims again. */
    uint64_t quota_seq;
};

/* The held claimers with one capability set. */
struct held_group {
    TAILQ_ENTRY(held_group) link;
    char *key; /* the set as "a,b" */
    char **caps;
    uint32_t n_caps;
    TAILQ_HEAD(, claimer) claimers; /* oldest first */
    struct claimer **by_id;         /* the same, by (agent_id, hold order) */
    size_t n, cap;
};

struct claimer {
    TAILQ_ENTRY(claimer) link; /* in group->claimers while HELD, s->claiming while CLAIMING */
    struct claims *s;
    struct held_group *group; /* while HELD */
    int state;
    int expired, gone;
    char *agent_id;
    char **caps;
    uint32_t n_caps;
    struct cp_agent_view snap; /* the agent as last seen, for strategies */
    char *snap_strs;           /* owned copies of snap's model, provider and metadata */
    struct event *timer;
    struct event *recheck; /* one-shot (see claims_hold) */
    struct event *hold_due; /* one-shot: an affinity hold it skipped ends (claims_recheck_at) */
    claims_deliver_cb cb;
    void *cookie;
    int64_t arrived_ms;
    int64_t claim_ms;  /* now_ms of its last store claim (the pass-over test) */
    uint64_t hold_seq; /* order of its last hold: ties in by_id */
    uint64_t tried_gen;
    int missed;          /* a wake-up ended unplaced while its claim was in flight */
    int blocked;         /* its agent may not claim now, only wait (claims_agent_may_wait): held
                            for claims_room(), never offered tasks; changed only while not
                            held */
    uint64_t room_seen;  /* claims_room_seq() when its last claim was sent */
    int quota;           /* its last claim was held back by a provider quota (quota.h) */
    uint64_t quota_seen; /* claims_quota_seq() when its last claim was sent */
    struct wake *wake;   /* while CLAIMING */
};

/* fn on every held claimer (fn must not change the held set; it may arm timers). */
void claims_held_each(struct claims *s, void (*fn)(struct claimer *c));

char **claims_strs_copy(const char *const *src, uint32_t n);
void claims_strs_free(char **v, uint32_t n);

/* Into / out of the held set (c->state HELD while in it). */
void claims_held_add(struct claims *s, struct claimer *c);
void claims_held_remove(struct claims *s, struct claimer *c);
/* Calls fn for each held claimer of agent_id (fn must not change the held set). */
void claims_held_each_of(struct claims *s, const char *agent_id, void (*fn)(struct claimer *c));
/* The held claimers whose capabilities cover req, that were not tried by wake-up `gen` and are
 * not blocked: at most MAX_CANDIDATES, sorted by agent_id (strategies expect that order). */
size_t claims_held_candidates(struct claims *s, const char *const *req, uint32_t n_req,
                              uint64_t gen, struct claimer **out);

#endif
