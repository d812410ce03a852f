/* auth.h — bearer-token authentication and role checks (CONTRACT §2). */
#ifndef CORE_HTTP_AUTH_H
#define CORE_HTTP_AUTH_H

#include "http.h"

/* Sets r->role. Public routes pass; with no tokens configured auth is off (role admin).
 * Otherwise replies 401 (missing/unknown token) or 403 (role too low) and returns -1. */
int auth_check(struct req *r);

/* Constant-time comparison of a presented token with a configured one. */
int auth_token_equal(const char *presented, const char *configured);

#endif
