/* auth.c — bearer tokens with roles. Tokens are compared in constant time and never logged. */
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
