/* request.c — the checks every request passes before its handler runs: the HTTP message's
 * framing and method, the text of path ids and query values, and the JSON body. Each returns 0,
 * or -1 after replying with the contract's error. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "request.h"
#include "../xalloc.h"
#include "utf8.h"

static int content_type_is_json(const char *ct)
{
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n) != 0) return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* The body's text problems that json-c lets through, as the contract's invalid_json. */
static void reply_text_issue(struct req *r, const struct json_text_issue *is)
{
    if (is->problem == JSON_TEXT_SINGLE_QUOTE) {
        http_reply_error(r, 400, "invalid_json",
                         "request body is not valid JSON: unexpected character ' at byte %zu",
                         is->offset);
        return;
    }
    const char *what = is->problem == JSON_TEXT_BAD_UTF8
                           ? "is not valid UTF-8"
                           : "holds a lone UTF-16 surrogate escape (JSON text must be Unicode)";
    if (is->member)
        http_reply_error(r, 400, "invalid_json", "request body member '%.*s' %s (byte %zu)",
                         (int)(is->member_len > 64 ? 64 : is->member_len), is->member, what,
                         is->offset);
    else
        http_reply_error(r, 400, "invalid_json", "a request body member name %s (byte %zu)", what,
                         is->offset);
}

/* Parse the body into r->body (an object). Replies and returns -1 on a bad body. */
int request_parse_body(struct req *r, json_tokener *tok)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    size_t len = evbuffer_get_length(in);
    if (len > r->core->cfg->max_body_bytes) {
        http_reply_error(r, 413, "payload_too_large",
                         "request body of %zu bytes is over the %zu "
                         "byte limit (limits.max_body_bytes)",
                         len, r->core->cfg->max_body_bytes);
        return -1;
    }
    if (len == 0) {
        r->body = xjson_object();
        return 0;
    }
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
    if (ct && !content_type_is_json(ct)) {
        http_reply_error(r, 415, "unsupported_media_type",
                         "Content-Type must be application/json, not '%.64s'", ct);
        return -1;
    }
    const char *text = (const char *)evbuffer_pullup(in, -1);
    if (memchr(text, '\0', len)) {
        http_reply_error(r, 400, "invalid_json", "request body is not valid JSON: a NUL byte");
        return -1;
    }
    json_tokener_reset(tok);
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue) {
        /* A top-level number or literal ends with the input: a NUL tells json-c so. */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        used = len;
    }
    if (!obj && jerr == json_tokener_success) {
        http_reply_error(r, 400, "invalid_json", "request body must be a JSON object, not null");
        return -1;
    }
    while (obj && used < len && isspace((unsigned char)text[used]))
        used++;
    if (!obj || jerr != json_tokener_success || used != len) {
        if (obj) json_object_put(obj);
        const char *why = jerr == json_tokener_continue  ? "unexpected end of input"
                          : jerr != json_tokener_success ? json_tokener_error_desc(jerr)
                                                         : "trailing characters after the value";
        http_reply_error(r, 400, "invalid_json", "request body is not valid JSON: %s", why);
        return -1;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        http_reply_error(r, 400, "invalid_json", "request body must be a JSON object");
        return -1;
    }
    struct json_text_issue issue;
    if (json_text_check(text, len, &issue) != JSON_TEXT_OK) {
        json_object_put(obj);
        reply_text_issue(r, &issue);
        return -1;
    }
    r->body = obj;
    return 0;
}

/* Ids in the path and query values are text too: invalid UTF-8 there is refused like in a
 * body (400 invalid_json naming it), before any handler can store or echo it. */
int request_check_text(struct req *r)
{
    for (int i = 0; i < 2; i++)
        if (r->params[i] && !utf8_valid(r->params[i])) {
            http_reply_error(r, 400, "invalid_json",
                             "the id in the request path is not valid UTF-8");
            return -1;
        }
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &r->query, next)
    {
        if (!utf8_valid(kv->key)) {
            http_reply_error(r, 400, "invalid_json", "a query parameter name is not valid UTF-8");
            return -1;
        }
        if (!utf8_valid(kv->value)) {
            http_reply_error(r, 400, "invalid_json", "query parameter '%.64s' is not valid UTF-8",
                             kv->key);
            return -1;
        }
    }
    return 0;
}

#define MAX_HEADERS 100

/* What evhttp accepts but cpd refuses: ambiguous framing (a proxy in front may have read the
 * body differently: request smuggling), too many headers, methods cpd never implements. The
 * connection is closed after the reply: its next bytes cannot be trusted. */
int request_check_message(struct req *r, int method)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->ev);
    struct evkeyval *h;
    const char *length = NULL, *coding = NULL;
    int n = 0, lengths = 0, codings = 0, conflict = 0;
    TAILQ_FOREACH(h, in, next)
    {
        n++;
        char first = (char)(h->key[0] | 0x20); /* most headers are neither: skip strcasecmp */
        if (first != 'c' && first != 't') continue;
        if (strcasecmp(h->key, "Content-Length") == 0) {
            if (length && strcmp(length, h->value) != 0) conflict = 1;
            length = h->value;
            lengths++;
        } else if (strcasecmp(h->key, "Transfer-Encoding") == 0) {
            coding = h->value;
            codings++;
        }
    }
    const char *why = NULL;
    int status = 400;
    const char *code = "bad_request";
    if (method == EVHTTP_REQ_CONNECT || method == EVHTTP_REQ_TRACE) {
        status = 501, code = "not_implemented";
        why = method == EVHTTP_REQ_CONNECT ? "CONNECT is not implemented"
                                           : "TRACE is not implemented";
    } else if (n > MAX_HEADERS) {
        status = 431, code = "header_fields_too_large";
        why = "the request has more than 100 header fields";
    } else if (conflict) {
        why = "the request has Content-Length headers with different values";
    } else if (lengths && codings) {
        why = "the request has both Content-Length and Transfer-Encoding";
    } else if (codings > 1 || (coding && strcasecmp(coding, "chunked") != 0)) {
        status = 501, code = "not_implemented";
        why = "the only supported Transfer-Encoding is chunked";
    }
    if (!why) return 0;
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    struct evbuffer *b = xevbuffer_new();
    evbuffer_add_printf(b, "{\"error\":\"%s\",\"code\":\"%s\"}", why, code);
    /* evhttp leaves Content-Length out of replies to CONNECT (a tunnel would follow). */
    char length_text[24];
    snprintf(length_text, sizeof length_text, "%zu", evbuffer_get_length(b));
    evhttp_add_header(out, "Content-Length", length_text);
    evhttp_add_header(out, "Connection", "close");
    http_reply_buffer(r, status, b);
    return -1;
}
