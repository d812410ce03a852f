/* config_tokens.c — auth tokens in the configuration: adding them (YAML, environment), their
 * agent bindings (`token:agent=worker-7|gpu-*`), and clearing them without leaving the secrets
 * in freed memory. config.c loads the layers; this file owns the token list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cp/types.h>

#include "config.h"
#include "config_internal.h"
#include "xalloc.h"

#define MAX_TOKEN_LEN 4096

static void free_bindings(struct cfg_token *t)
{
    for (uint32_t j = 0; j < t->n_agents; j++)
        free(t->agents[j]);
    free(t->agents);
    t->agents = NULL;
    t->n_agents = 0;
}

void cfg_clear_tokens(struct cp_config *cfg)
{
    for (size_t i = 0; i < cfg->n_tokens; i++) {
        free_bindings(&cfg->tokens[i]);
        /* Tokens are secrets: do not leave them in freed heap memory. */
        if (cfg->tokens[i].token) memset(cfg->tokens[i].token, 0, strlen(cfg->tokens[i].token));
        free(cfg->tokens[i].token);
        cfg->tokens[i].token = NULL;
    }
    cfg->n_tokens = 0;
}

int cfg_add_token(struct cp_config *cfg, const char *token, const char *role, int show_role,
                  const char *pos, char *err, size_t errlen)
{
    if (!token || !*token) {
        snprintf(err, errlen, "config: %s: the token is empty", pos);
        return -1;
    }
    size_t len = strnlen(token, MAX_TOKEN_LEN + 1);
    if (len > MAX_TOKEN_LEN) {
        snprintf(err, errlen, "config: %s: the token is longer than %d characters", pos,
                 MAX_TOKEN_LEN);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        if (c <= ' ' || c >= 127) {
            snprintf(err, errlen,
                     "config: %s: the token contains a space or a non-printable character; "
                     "expected printable ASCII (it is sent as 'Authorization: Bearer <token>')",
                     pos);
            return -1;
        }
    }
    int r = config_role_parse(role);
    if (r < 0 && role && *role && show_role) {
        char q[80];
        cfg_quote(role, q, sizeof q);
        snprintf(err, errlen,
                 "config: %s: role '%s' is not allowed; expected admin, agent or reader", pos, q);
        return -1;
    }
    if (r < 0) {
        snprintf(err, errlen, "config: %s: the role is %s; expected admin, agent or reader", pos,
                 role && *role ? "not one of them" : "missing");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_tokens; i++) {
        if (strcmp(cfg->tokens[i].token, token) == 0) {
            snprintf(err, errlen, "config: %s: the same token is already listed as entry %zu", pos,
                     i + 1);
            return -1;
        }
    }
    if (cfg->n_tokens >= CFG_MAX_TOKENS) {
        snprintf(err, errlen, "config: %s: too many tokens; at most %d", pos, CFG_MAX_TOKENS);
        return -1;
    }
    cfg->tokens[cfg->n_tokens].token = xstrdup(token);
    cfg->tokens[cfg->n_tokens].role = r;
    cfg->n_tokens++;
    return 0;
}

int cfg_bind_token(struct cp_config *cfg, size_t i, const char *pattern, const char *pos, char *err,
                   size_t errlen)
{
    struct cfg_token *t = &cfg->tokens[i];
    if (t->role != ROLE_AGENT) {
        snprintf(err, errlen,
                 "config: %s: only agent tokens can be bound to agents (this one is %s)", pos,
                 t->role == ROLE_ADMIN ? "admin" : "reader");
        return -1;
    }
    size_t n = pattern ? strnlen(pattern, 130) : 0;
    int ok = n >= 1 && n <= 128;
    for (size_t k = 0; ok && k < n; k++) {
        char c = pattern[k];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             strchr("._:@/-*", c) != NULL;
    }
    if (!ok) {
        char q[80];
        cfg_quote(pattern ? pattern : "", q, sizeof q);
        snprintf(err, errlen,
                 "config: %s: agent '%s' is not an agent id or pattern; expected 1-128 characters "
                 "of A-Z a-z 0-9 . _ : @ / - and '*' (any characters), e.g. worker-7 or gpu-*",
                 pos, q);
        return -1;
    }
    if (t->n_agents >= CFG_MAX_BINDINGS) {
        snprintf(err, errlen, "config: %s: too many agents for one token; at most %d", pos,
                 CFG_MAX_BINDINGS);
        return -1;
    }
    char **v = realloc(t->agents, (t->n_agents + 1) * sizeof *v);
    if (!v) {
        snprintf(err, errlen, "config: out of memory");
        return -1;
    }
    t->agents = v;
    t->agents[t->n_agents++] = xstrdup(pattern);
    return 0;
}

static int add_pair_plain(struct cp_config *cfg, const char *pair, const char *pos, char *err,
                          size_t errlen);

/* "token:role" or "token:agent=id|pattern|..." ('=' never occurs in an id, '|' neither). */
int cfg_add_token_pair(struct cp_config *cfg, const char *pair, const char *pos, char *err,
                       size_t errlen)
{
    const char *eq = strrchr(pair, '=');
    if (eq && eq - pair >= 6 && strncmp(eq - 6, ":agent", 6) == 0) {
        size_t n = (size_t)(eq - pair);
        char *head = malloc(n + 1);
        if (!head) {
            snprintf(err, errlen, "config: out of memory");
            return -1;
        }
        memcpy(head, pair, n);
        head[n] = '\0';
        int rc = add_pair_plain(cfg, head, pos, err, errlen);
        memset(head, 0, n);
        free(head);
        for (const char *p = eq + 1; rc == 0;) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            char one[160];
            snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one ? len : sizeof one - 1), p);
            if (len >= sizeof one) one[0] = '\0'; /* too long: refused as empty */
            rc = cfg_bind_token(cfg, cfg->n_tokens - 1, one, pos, err, errlen);
            if (!bar) break;
            p = bar + 1;
        }
        return rc;
    }
    return add_pair_plain(cfg, pair, pos, err, errlen);
}

static int add_pair_plain(struct cp_config *cfg, const char *pair, const char *pos, char *err,
                          size_t errlen)
{
    const char *colon = strrchr(pair, ':');
    if (!colon) {
        snprintf(err, errlen,
                 "config: %s is not token:role; expected e.g. s3cret:admin (roles: admin, agent, "
                 "reader)",
                 pos);
        return -1;
    }
    size_t n = (size_t)(colon - pair);
    char *token = xmalloc(n + 1);
    memcpy(token, pair, n);
    token[n] = '\0';
    int rc = cfg_add_token(cfg, token, colon + 1, 0, pos, err, errlen);
    memset(token, 0, n);
    free(token);
    return rc;
}

/* One option into a list of at most CFG_MAX_OPTIONS (replacing one of the same key). */
/* CONTROL_PLANE_TOKENS=token:role,token:role — replaces the file's tokens. */
int cfg_env_tokens(struct cp_config *cfg, const char *list, char *err, size_t errlen)
{
    cfg_clear_tokens(cfg);
    char *copy = xstrdup(list);
    size_t len = strlen(copy);
    int rc = 0, idx = 0;
    for (char *entry = copy, *end; entry && rc == 0; entry = end) {
        end = strchr(entry, ',');
        if (end) *end++ = '\0';
        idx++;
        while (*entry == ' ' || *entry == '\t')
            entry++;
        size_t n = strlen(entry);
        while (n > 0 && (entry[n - 1] == ' ' || entry[n - 1] == '\t'))
            entry[--n] = '\0';
        if (n == 0 && !end && idx > 1) break; /* a trailing comma */
        char pos[64];
        snprintf(pos, sizeof pos, "CONTROL_PLANE_TOKENS entry %d", idx);
        rc = cfg_add_token_pair(cfg, entry, pos, err, errlen);
    }
    memset(copy, 0, len);
    free(copy);
    return rc;
}
