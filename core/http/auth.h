/* auth.h — bearer-token authentication and role checks (CONTRACT §2). */
#ifndef CORE_HTTP_AUTH_H
#define CORE_HTTP_AUTH_H

#include "http.h"

/* Sets r->role. Public routes pass; with no tokens configured auth is off (role admin).
 * Otherwise replies 401 (missing/unknown token) or 403 (role too low) and returns -1. */
int auth_check(struct req *r);

/* Agent tokens bound to agents (auth.tokens[].agents) may act only as those agents. Call where
 * a request names the agent it acts as (register, heartbeat, unregister, claim, start,
 * complete, fail), during dispatch. Admin tokens, unbound agent tokens and auth off pass.
 * Otherwise replies 403 forbidden and returns -1. */
int auth_agent(struct req *r, const char *agent_id);
/* The same for start/complete/fail, where agent_id is optional: without one, a token bound to
 * exactly one agent id (no '*') fences with that id (*agent_id is set, borrowed for the
 * dispatch); a token bound to several or to a pattern gets 400 missing_field. */
int auth_agent_fence(struct req *r, const char **agent_id);
/* 1 when token t (NULL: auth off) may act as agent_id. */
int auth_token_may_act_as(const struct cfg_token *t, const char *agent_id);

/* Constant-time comparison of a presented token with a configured one. */
int auth_token_equal(const char *presented, const char *configured);

#endif
