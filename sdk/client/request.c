/* request.c — building requests: paths and queries with percent-encoding, checking the
 * caller's arguments (JSON texts, required strings) before anything is sent, and POSTing a
 * json-c object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void buf_reserve(struct cpc_buf *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->failed = 1;
        return;
    }
    b->s = s;
    b->cap = cap;
}

void cpc_buf_add(struct cpc_buf *b, const char *s)
{
    size_t n = strlen(s);
    buf_reserve(b, n);
    if (b->failed) return;
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

void cpc_buf_addf(struct cpc_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->failed = 1; /* only used for short numbers */
        return;
    }
    cpc_buf_add(b, tmp);
}

void cpc_buf_add_escaped(struct cpc_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    buf_reserve(b, 3 * n);
    if (b->failed) return;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            b->s[b->len++] = (char)ch;
        } else {
            b->s[b->len++] = '%';
            b->s[b->len++] = hex[ch >> 4];
            b->s[b->len++] = hex[ch & 15];
        }
    }
    b->s[b->len] = '\0';
}

void cpc_buf_add_param(struct cpc_buf *b, const char *key, const char *value)
{
    cpc_buf_add(b, b->s && strchr(b->s, '?') ? "&" : "?");
    cpc_buf_add(b, key);
    cpc_buf_add(b, "=");
    cpc_buf_add_escaped(b, value);
}

void cpc_buf_free(struct cpc_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

int cpc_parse_arg(cp_client *c, const char *what, const char *text, struct json_object **out)
{
    *out = NULL;
    struct json_tokener *tok = json_tokener_new();
    if (!tok) return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    size_t len = strlen(text);
    /* len + 1: the terminating NUL tells json-c that a bare number or literal is complete. */
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr != json_tokener_success)
        return cpc_set_error(c, CPC_ERR_INVALID, "%s is not valid JSON: %s", what,
                             jerr == json_tokener_continue ? "unexpected end"
                                                           : json_tokener_error_desc(jerr));
    while (end < len && strchr(" \t\r\n", text[end]))
        end++;
    if (end != len) {
        json_object_put(o);
        return cpc_set_error(c, CPC_ERR_INVALID, "%s is not valid JSON: text after the value",
                             what);
    }
    /* JSON null parses to NULL in json-c: that is a valid value, not a failure. */
    *out = o;
    return CPC_OK;
}

struct json_object *cpc_string_array(const char *const *v, size_t n)
{
    struct json_object *a = json_object_new_array_ext((int)n);
    if (!a) return NULL;
    for (size_t i = 0; i < n; i++) {
        struct json_object *s = v[i] ? json_object_new_string(v[i]) : NULL;
        if (!s || json_object_array_add(a, s) != 0) {
            json_object_put(s);
            json_object_put(a);
            return NULL;
        }
    }
    return a;
}

int cpc_require(cp_client *c, const char *what, const char *value)
{
    if (!value || !*value) return cpc_set_error(c, CPC_ERR_INVALID, "%s is required", what);
    return CPC_OK;
}

int cpc_post(cp_client *c, const char *path, struct json_object *obj, long timeout_ms,
             int interruptible, struct json_object **out)
{
    if (out) *out = NULL;
    if (!obj) return cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    const char *body = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    int err = body ? cpc_http(c, "POST", path, body, timeout_ms, interruptible, out, NULL)
                   : cpc_set_error(c, CPC_ERR_NOMEM, "out of memory");
    json_object_put(obj);
    return err;
}

int cpc_check_strings(cp_client *c, const char *what, const char *const *v, size_t n)
{
    if (n && !v)
        return cpc_set_error(c, CPC_ERR_INVALID, "%s is NULL with a count of %zu", what, n);
    for (size_t i = 0; i < n; i++)
        if (!v[i] || !*v[i]) return cpc_set_error(c, CPC_ERR_INVALID, "%s[%zu] is empty", what, i);
    return CPC_OK;
}

void cpc_add(struct json_object *o, const char *key, struct json_object *v, int *failed)
{
    if (!o || !v || json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        *failed = 1;
    }
}

void cpc_add_json(struct json_object *o, const char *key, struct json_object *v, int *failed)
{
    if (!o || json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        *failed = 1;
    }
}
