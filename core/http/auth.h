/* auth.h — bearer-token authentication and role checks (docs/api.md). Decides only; the server
 * replies. */
#ifndef CORE_HTTP_AUTH_H
#define CORE_HTTP_AUTH_H

#include <event2/keyvalq_struct.h>

#include "config.h"

/* The verdict on one request. */
struct auth_result {
    int role;          /* allowed: the caller's role (enum cfg_role) */
    int status;        /* refused: 401 (missing / unknown token) or 403 (role too low) */
    const char *code;  /* refused: the error code ("unauthorized", "forbidden") */
    char message[160]; /* refused: what the client is told */
};

/* May a request with these headers use a route that needs min_role (-1: public)? With no tokens
 * configured auth is off (role admin). 0 with out->role set, or -1 with status, code, message. */
int auth_check(const struct cp_config *cfg, int min_role, const struct evkeyvalq *headers,
               struct auth_result *out);

/* 1 when token t (NULL: auth off) may act as agent_id. */
int auth_token_may_act_as(const struct cfg_token *t, const char *agent_id);

/* Constant-time comparison of a presented token with a configured one. */
int auth_token_equal(const char *presented, const char *configured);

#endif
