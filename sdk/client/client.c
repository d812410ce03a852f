/* client.c — libcpclient's handle: open/free, settings, the last-call error fields and the
 * interrupt flag. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifndef CP_VERSION
#define CP_VERSION "0"
#endif

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

/* curl_global_init is not thread-safe on every libcurl; once per process, never cleaned up
 * (other code in the process may use libcurl too). */
static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_ALL);
}

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* "<url>" -> "<url>/api/control-plane" unless it already ends with the base path. */
static char *make_base(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    size_t bl = strlen(CPC_BASE_PATH);
    int has_base = n >= bl && strncmp(url + n - bl, CPC_BASE_PATH, bl) == 0;
    char *s = malloc(n + bl + 1);
    if (!s) return NULL;
    memcpy(s, url, n);
    if (has_base) {
        s[n] = '\0';
    } else {
        memcpy(s + n, CPC_BASE_PATH, bl + 1);
    }
    return s;
}

static char *make_auth(const char *token)
{
    static const char prefix[] = "Authorization: Bearer ";
    size_t n = strlen(token);
    char *s = malloc(sizeof prefix + n);
    if (!s) return NULL;
    memcpy(s, prefix, sizeof prefix - 1);
    memcpy(s + sizeof prefix - 1, token, n + 1);
    return s;
}

int cp_client_open(cp_client **out, const struct cpc_options *opt)
{
    static const struct cpc_options none = {0};
    if (!out) return CPC_ERR_INVALID;
    *out = NULL;
    if (!opt) opt = &none;
    const char *url = opt->url ? opt->url : CPC_DEFAULT_URL;
    if (!has_prefix(url, "http://") && !has_prefix(url, "https://")) return CPC_ERR_INVALID;
    if (opt->timeout_ms < 0 || opt->connect_timeout_ms < 0 || opt->long_poll_margin_ms < 0)
        return CPC_ERR_INVALID;
    if (opt->token && strpbrk(opt->token, "\r\n")) return CPC_ERR_INVALID;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) return CPC_ERR_NOMEM;

    cp_client *c = calloc(1, sizeof *c);
    if (!c) return CPC_ERR_NOMEM;
    atomic_init(&c->interrupt_requested, 0);
    c->last_applied = CPC_APPLIED_NOT_SAID;
    c->timeout_ms = opt->timeout_ms ? opt->timeout_ms : 30000;
    c->connect_timeout_ms = opt->connect_timeout_ms ? opt->connect_timeout_ms : 5000;
    c->margin_ms = opt->long_poll_margin_ms ? opt->long_poll_margin_ms : 5000;
    c->submit_retries = 2;
    c->submit_backoff_ms = 250;
    c->base = make_base(url);
    c->user_agent = strdup(opt->user_agent ? opt->user_agent : "libcpclient/" CP_VERSION);
    c->curl = curl_easy_init();
    if (opt->token) c->auth_header = make_auth(opt->token);
    if (!c->base || !c->user_agent || !c->curl || (opt->token && !c->auth_header)) {
        cp_client_free(c);
        return CPC_ERR_NOMEM;
    }
    *out = c;
    return CPC_OK;
}

cp_client *cp_client_new(const char *url, const char *token)
{
    struct cpc_options opt = {.url = url, .token = token};
    cp_client *c = NULL;
    return cp_client_open(&c, &opt) == CPC_OK ? c : NULL;
}

void cp_client_free(cp_client *c)
{
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    free(c->base);
    free(c->auth_header);
    free(c->user_agent);
    free(c);
}

int cp_client_set_token(cp_client *c, const char *token)
{
    cpc_reset_error(c);
    if (token && strpbrk(token, "\r\n"))
        return cpc_set_error(c, CPC_ERR_INVALID, "token contains a line break");
    char *h = NULL;
    if (token && !(h = make_auth(token))) return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    free(c->auth_header);
    c->auth_header = h;
    return CPC_OK;
}

int cp_client_set_timeout(cp_client *c, long timeout_ms)
{
    cpc_reset_error(c);
    if (timeout_ms < 0) return cpc_set_error(c, CPC_ERR_INVALID, "timeout_ms is negative");
    c->timeout_ms = timeout_ms ? timeout_ms : 30000;
    return CPC_OK;
}

int cp_client_set_retries(cp_client *c, int retries, long backoff_ms)
{
    cpc_reset_error(c);
    if (retries < 0 || backoff_ms < 0)
        return cpc_set_error(c, CPC_ERR_INVALID, "retries and backoff_ms must not be negative");
    c->submit_retries = retries;
    c->submit_backoff_ms = backoff_ms ? backoff_ms : 250;
    return CPC_OK;
}

const char *cp_client_url(const cp_client *c)
{
    return c->base;
}

void cp_client_interrupt(cp_client *c)
{
    if (c) atomic_store(&c->interrupt_requested, 1);
}

int cp_client_last_status(const cp_client *c)
{
    return c->last_status;
}

const char *cp_client_last_message(const cp_client *c)
{
    return c->message;
}

const char *cp_client_last_code(const cp_client *c)
{
    return c->code;
}

int cp_client_last_applied(const cp_client *c)
{
    return c->last_applied;
}

const char *cp_client_strerror(int err)
{
    switch (err) {
    case CPC_OK:
        return "ok";
    case CPC_ERR_INVALID:
        return "invalid request";
    case CPC_ERR_UNAUTHORIZED:
        return "unauthorized";
    case CPC_ERR_FORBIDDEN:
        return "forbidden";
    case CPC_ERR_NOT_FOUND:
        return "not found";
    case CPC_ERR_METHOD:
        return "method not allowed";
    case CPC_ERR_CONFLICT:
        return "conflict";
    case CPC_ERR_TOO_LARGE:
        return "payload too large";
    case CPC_ERR_MEDIA_TYPE:
        return "unsupported media type";
    case CPC_ERR_UNAVAILABLE:
        return "storage unavailable";
    case CPC_ERR_SERVER:
        return "server error";
    case CPC_ERR_TRANSPORT:
        return "transport error";
    case CPC_ERR_TIMEOUT:
        return "timed out";
    case CPC_ERR_PROTOCOL:
        return "unexpected answer";
    case CPC_ERR_INTERRUPTED:
        return "interrupted";
    case CPC_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}

int cpc_set_error(cp_client *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
    c->code[0] = '\0';
    c->last_applied = CPC_APPLIED_NOT_SAID;
    return err;
}

void cpc_reset_error(cp_client *c)
{
    c->last_status = 0;
    c->last_applied = CPC_APPLIED_NOT_SAID;
    c->message[0] = '\0';
    c->code[0] = '\0';
}

int cp_client_request(cp_client *c, const char *method, const char *path, const char *body_json,
                      long timeout_ms, char **response)
{
    cpc_reset_error(c);
    if (response) *response = NULL;
    if (!method || !*method || strpbrk(method, " \r\n"))
        return cpc_set_error(c, CPC_ERR_INVALID, "bad method");
    if (!path || path[0] != '/' || strpbrk(path, " \r\n"))
        return cpc_set_error(c, CPC_ERR_INVALID, "path must start with '/'");
    if (timeout_ms < 0) return cpc_set_error(c, CPC_ERR_INVALID, "timeout_ms is negative");
    return cpc_http(c, method, path, body_json, timeout_ms ? timeout_ms : c->timeout_ms, 0, NULL,
                    response);
}
