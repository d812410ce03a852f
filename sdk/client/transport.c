/* transport.c — one HTTP exchange over the client's reused libcurl easy handle (so the
 * connection is kept alive between calls), and the mapping of answers to enum
 * cp_client_error with the server's {"error", "code"} kept for the caller. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A body larger than this is refused rather than buffered: no answer of the contract is near it
 * (lists are capped at 1000 items of at most a few MiB each only in pathological setups). */
#define MAX_RESPONSE_BYTES (256u << 20)

struct response {
    char *data;
    size_t len, cap;
    int too_big;
    int nomem;
};

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct response *r = ud;
    size_t n = size * nmemb;
    if (r->len + n + 1 > MAX_RESPONSE_BYTES) {
        r->too_big = 1;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *d = realloc(r->data, cap);
        if (!d) {
            r->nomem = 1;
            return 0;
        }
        r->data = d;
        r->cap = cap;
    }
    memcpy(r->data + r->len, p, n);
    r->len += n;
    r->data[r->len] = '\0';
    return n;
}

/* Called by libcurl at least once a second, also while a long poll is idle. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    cp_client *c = ud;
    return c->interruptible && atomic_load(&c->interrupt_requested) ? 1 : 0;
}

static int map_status(long status)
{
    if (status >= 200 && status < 300) return CPC_OK;
    switch (status) {
    case 400:
        return CPC_ERR_INVALID;
    case 401:
        return CPC_ERR_UNAUTHORIZED;
    case 403:
        return CPC_ERR_FORBIDDEN;
    case 404:
        return CPC_ERR_NOT_FOUND;
    case 405:
        return CPC_ERR_METHOD;
    case 409:
        return CPC_ERR_CONFLICT;
    case 413:
        return CPC_ERR_TOO_LARGE;
    case 415:
        return CPC_ERR_MEDIA_TYPE;
    case 503:
        return CPC_ERR_UNAVAILABLE;
    default:
        return CPC_ERR_SERVER;
    }
}

/* Parses the whole of text as JSON; NULL when it is not exactly one JSON value. */
static struct json_object *parse_all(const char *text, size_t len)
{
    if (!text) return NULL;
    struct json_tokener *tok = json_tokener_new();
    if (!tok) return NULL;
    /* len + 1: the terminating NUL tells json-c that a bare number or literal is complete. */
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1);
    if (json_tokener_get_error(tok) != json_tokener_success) {
        o = NULL; /* nothing is returned on error */
    } else {
        size_t off = json_tokener_get_parse_end(tok);
        while (off < len && strchr(" \t\r\n", text[off]))
            off++;
        if (off != len) {
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(tok);
    return o;
}

/* Records the server's error body; a body that is not the contract's error object still gives
 * a readable message. */
static int record_http_error(cp_client *c, int err, long status, const struct response *r)
{
    struct json_object *o = r->data ? parse_all(r->data, r->len) : NULL;
    const char *msg = o ? cpc_get_str(o, "error") : NULL;
    const char *code = o ? cpc_get_str(o, "code") : NULL;
    if (msg) {
        snprintf(c->message, sizeof c->message, "%s", msg);
    } else {
        snprintf(c->message, sizeof c->message, "HTTP %ld%s%.200s", status, r->len ? ": " : "",
                 r->len ? r->data : "");
    }
    snprintf(c->code, sizeof c->code, "%s", code ? code : "");
    /* 503 storage_unavailable says whether the request took effect: false, or "unknown". */
    struct json_object *applied = NULL;
    if (o && json_object_object_get_ex(o, "applied", &applied)) {
        if (json_object_is_type(applied, json_type_boolean) && !json_object_get_boolean(applied))
            c->last_applied = CPC_APPLIED_NO;
        else if (json_object_is_type(applied, json_type_string) &&
                 strcmp(json_object_get_string(applied), "unknown") == 0)
            c->last_applied = CPC_APPLIED_UNKNOWN;
    }
    json_object_put(o);
    return err;
}

int cpc_status_error(cp_client *c, long status, const char *body, size_t len)
{
    int err = map_status(status);
    struct response r = {(char *)(uintptr_t)body, len, len, 0, 0};
    return record_http_error(c, err == CPC_OK ? CPC_ERR_PROTOCOL : err, status, &r);
}

static int map_curl_error(cp_client *c, CURLcode rc, const struct response *r, const char *url)
{
    const char *detail = c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return cpc_set_error(c, CPC_ERR_TIMEOUT, "%s: %s", url, detail);
    case CURLE_OUT_OF_MEMORY:
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    case CURLE_ABORTED_BY_CALLBACK:
        return cpc_set_error(c, CPC_ERR_INTERRUPTED, "interrupted");
    case CURLE_WRITE_ERROR:
        if (r->nomem) return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
        if (r->too_big)
            return cpc_set_error(c, CPC_ERR_PROTOCOL, "%s: answer larger than %u bytes", url,
                                 MAX_RESPONSE_BYTES);
        /* fall through */
    default:
        return cpc_set_error(c, CPC_ERR_TRANSPORT, "%s: %s", url, detail);
    }
}

static void set_method(CURL *h, const char *method, const char *body)
{
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L); /* resets what the previous call set */
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    else if (strcmp(method, "POST") == 0 && !body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
}

static struct curl_slist *make_headers(cp_client *c, int has_body, int *nomem)
{
    const char *lines[4];
    size_t n = 0;
    lines[n++] = "Accept: application/json";
    lines[n++] = "Expect:"; /* no 100-continue round trip for larger bodies */
    if (has_body) lines[n++] = "Content-Type: application/json";
    if (c->auth_header) lines[n++] = c->auth_header;
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < n; i++) {
        struct curl_slist *next = curl_slist_append(list, lines[i]);
        if (!next) {
            curl_slist_free_all(list);
            *nomem = 1;
            return NULL;
        }
        list = next;
    }
    return list;
}

int cpc_http(cp_client *c, const char *method, const char *path, const char *body, long timeout_ms,
             int interruptible, struct json_object **out, char **raw)
{
    if (out) *out = NULL;
    if (raw) *raw = NULL;
    c->last_status = 0;
    c->last_applied = CPC_APPLIED_NOT_SAID;
    c->curl_err[0] = '\0';
    if (interruptible && atomic_exchange(&c->interrupt_requested, 0))
        return cpc_set_error(c, CPC_ERR_INTERRUPTED, "interrupted");

    size_t ul = strlen(c->base) + strlen(path) + 1;
    char *url = malloc(ul);
    int nomem = 0;
    struct curl_slist *headers = make_headers(c, body != NULL, &nomem);
    if (!url || nomem) {
        free(url);
        curl_slist_free_all(headers);
        return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    }
    snprintf(url, ul, "%s%s", c->base, path);

    CURL *h = c->curl;
    struct response r = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    set_method(h, method, body);

    c->interruptible = interruptible;
    CURLcode rc = curl_easy_perform(h);
    c->interruptible = 0;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);

    int err;
    if (rc != CURLE_OK) {
        if (rc == CURLE_ABORTED_BY_CALLBACK) atomic_store(&c->interrupt_requested, 0);
        err = map_curl_error(c, rc, &r, url);
    } else {
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        c->last_status = (int)status;
        err = map_status(status);
        if (err != CPC_OK) {
            record_http_error(c, err, status, &r);
        } else if (out && !(*out = parse_all(r.data, r.len))) {
            err = cpc_set_error(c, CPC_ERR_PROTOCOL, "%s %s: the answer is not JSON", method, path);
        } else if (raw) {
            *raw = r.data ? r.data : strdup("");
            r.data = NULL;
            if (!*raw) {
                if (out) {
                    json_object_put(*out);
                    *out = NULL;
                }
                err = cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
            }
        }
    }
    free(r.data);
    free(url);
    return err;
}
