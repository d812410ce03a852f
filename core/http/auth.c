/* auth.c — bearer tokens with roles, and agent tokens bound to agent ids. Tokens are compared
 * in constant time and never logged. Decides only: the callers reply. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

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

static int refuse(struct auth_result *out, int status, const char *code, const char *msg)
{
    out->status = status;
    out->code = code;
    snprintf(out->message, sizeof out->message, "%s", msg);
    return -1;
}

int auth_check(const struct cp_config *cfg, int min_role, const struct evkeyvalq *headers,
               struct auth_result *out)
{
    if (min_role < 0 || cfg->n_tokens == 0) {
        out->role = ROLE_ADMIN;
        return 0;
    }
    const char *h = evhttp_find_header(headers, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0')
        return refuse(out, 401, "unauthorized",
                      "a bearer token is required (Authorization: Bearer <token>)");
    const char *tok = h + 7;
    int role = -1;
    for (size_t i = 0; i < cfg->n_tokens; i++)
        if (auth_token_equal(tok, cfg->tokens[i].token) && cfg->tokens[i].role > role)
            role = cfg->tokens[i].role;
    if (role < 0) return refuse(out, 401, "unauthorized", "unknown bearer token");
    if (role < min_role) {
        char msg[128];
        snprintf(msg, sizeof msg, "the %s role may not do this; it needs %s", role_name(role),
                 role_name(min_role));
        return refuse(out, 403, "forbidden", msg);
    }
    out->role = role;
    return 0;
}

int auth_token_may_act_as(const struct cfg_token *t, const char *agent_id)
{
    if (!t || t->role != ROLE_AGENT || t->n_agents == 0) return 1;
    for (uint32_t i = 0; i < t->n_agents; i++)
        if (fnmatch(t->agents[i], agent_id, 0) == 0) return 1;
    return 0;
}
