/* identity.c — agent tokens bound to agent ids (auth.tokens[].agents): a handler asks here
 * whether the request may act as the agent it names, and the refusal is replied here. The
 * verdict on a token is auth.c's; this file only finds the token the request presented. */
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include "auth.h"
#include "identity.h"

/* The configured token the request presented (auth_check() accepted it), or NULL when auth is
 * off. Called during the handler's dispatch, so a reload cannot swap the table meanwhile. */
static const struct cfg_token *presented(struct req *r)
{
    const struct cp_config *cfg = r->core->cfg;
    if (cfg->n_tokens == 0) return NULL;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return NULL;
    const struct cfg_token *found = NULL;
    for (size_t i = 0; i < cfg->n_tokens; i++)
        if (auth_token_equal(h + 7, cfg->tokens[i].token)) found = &cfg->tokens[i];
    return found;
}

int auth_agent(struct req *r, const char *agent_id)
{
    const struct cfg_token *t = presented(r);
    if (auth_token_may_act_as(t, agent_id)) return 0;
    http_reply_error(r, 403, "forbidden",
                     "this token is bound to other agents; it may not act as agent '%.128s'",
                     agent_id);
    return -1;
}

int auth_agent_fence(struct req *r, const char **agent_id)
{
    if (*agent_id) return auth_agent(r, *agent_id);
    const struct cfg_token *t = presented(r);
    if (!t || t->role != ROLE_AGENT || t->n_agents == 0) return 0; /* any agent, as before */
    if (t->n_agents == 1 && !strchr(t->agents[0], '*')) {
        *agent_id = t->agents[0]; /* its only agent: the task must be assigned to it */
        return 0;
    }
    http_reply_error(r, 400, "missing_field",
                     "agent_id is required: this token acts for several agents");
    return -1;
}
