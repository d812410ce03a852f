/* auth.c — bearer tokens with roles, and agent tokens bound to agent ids. Tokens are compared
 * in constant time and never logged. */
#include <fnmatch.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

int auth_token_equal(const char *presented, const char *configured)
{
    size_t lp = strlen(presented), lc = strlen(configured);
    /* Compare over the configured length regardless of where a mismatch is. */
    unsigned char diff = (unsigned char)(lp != lc);
    for (size_t i = 0; i < lc; i++) {
        unsigned char p = i < lp ? (unsigned char)presented[i] : 0;
        diff |= p ^ (unsigned char)configured[i];
    }
    return diff == 0;
}

static const char *role_name(int role)
{
    return role == ROLE_ADMIN ? "admin" : role == ROLE_AGENT ? "agent" : "reader";
}

int auth_check(struct req *r)
{
    const struct cp_config *cfg = r->core->cfg;
    if (r->route->min_role < 0 || cfg->n_tokens == 0) {
        r->role = ROLE_ADMIN;
        return 0;
    }
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
        http_reply_error(r, 401, "unauthorized",
                         "a bearer token is required "
                         "(Authorization: Bearer <token>)");
        return -1;
    }
    const char *tok = h + 7;
    int role = -1;
    for (size_t i = 0; i < cfg->n_tokens; i++)
        if (auth_token_equal(tok, cfg->tokens[i].token) && cfg->tokens[i].role > role)
            role = cfg->tokens[i].role;
    if (role < 0) {
        http_reply_error(r, 401, "unauthorized", "unknown bearer token");
        return -1;
    }
    if (role < r->route->min_role) {
        http_reply_error(r, 403, "forbidden", "the %s role may not do this; it needs %s",
                         role_name(role), role_name(r->route->min_role));
        return -1;
    }
    r->role = role;
    return 0;
}

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

int auth_token_may_act_as(const struct cfg_token *t, const char *agent_id)
{
    if (!t || t->role != ROLE_AGENT || t->n_agents == 0) return 1;
    for (uint32_t i = 0; i < t->n_agents; i++)
        if (fnmatch(t->agents[i], agent_id, 0) == 0) return 1;
    return 0;
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
