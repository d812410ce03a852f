/* identity.h — may this request act as that agent? (agent tokens bound to agent ids) */
#ifndef CORE_HTTP_IDENTITY_H
#define CORE_HTTP_IDENTITY_H

#include "http.h"

/* Agent tokens bound to agents (auth.tokens[].agents) may act only as those agents. Call where
 * a request names the agent it acts as (register, heartbeat, unregister, claim, start,
 * complete, fail), during dispatch. Admin tokens, unbound agent tokens and auth off pass.
 * Otherwise replies 403 forbidden and returns -1. */
int auth_agent(struct req *r, const char *agent_id);
/* The same for start/complete/fail, where agent_id is optional: without one, a token bound to
 * exactly one agent id (no '*') fences with that id (*agent_id is set, borrowed for the
 * dispatch); a token bound to several or to a pattern gets 400 missing_field. */
int auth_agent_fence(struct req *r, const char **agent_id);

#endif
