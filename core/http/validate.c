/* validate.c — typed access to request members with the contract's 400 errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../xalloc.h"
#include "validate.h"

int valid_identifier(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= ID_MAX) return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._:@/-", c)))
            return 0;
    }
    return n > 0;
}

int check_identifier(struct req *r, const char *field, const char *s)
{
    if (valid_identifier(s)) return 0;
    http_reply_error(r, 400, "invalid_field",
                     "%s must be 1-128 characters of A-Z a-z 0-9 . _ : @ / -", field);
    return -1;
}

static json_object *member(struct req *r, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(r->body, key, &v)) return NULL;
    return v;
}

/* JSON null counts as absent for optional members. */
static json_object *present(struct req *r, const char *key)
{
    json_object *v = member(r, key);
    return v && !json_object_is_type(v, json_type_null) ? v : NULL;
}

static int missing(struct req *r, const char *key)
{
    http_reply_error(r, 400, "missing_field", "%s is required", key);
    return -1;
}

int get_string(struct req *r, const char *key, int required, const char **out)
{
    json_object *v = present(r, key);
    *out = NULL;
    if (!v) return required ? missing(r, key) : 0;
    if (!json_object_is_type(v, json_type_string)) {
        http_reply_error(r, 400, "invalid_field", "%s must be a string", key);
        return -1;
    }
    *out = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) != strlen(*out)) {
        *out = NULL;
        http_reply_error(r, 400, "invalid_field", "%s must not contain NUL characters", key);
        return -1;
    }
    return 0;
}

int get_json_text(struct req *r, const char *key, int object_only, const char *dflt, char **out)
{
    json_object *v = NULL;
    int has = json_object_object_get_ex(r->body, key, &v); /* v is NULL for a JSON null */
    *out = NULL;
    if (!has || (object_only && !v)) {
        if (dflt) *out = xstrdup(dflt);
        return 0;
    }
    if (object_only && !json_object_is_type(v, json_type_object)) {
        http_reply_error(r, 400, "invalid_field", "%s must be a JSON object", key);
        return -1;
    }
    const char *s = v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE)
                      : "null";
    *out = xstrdup(s);
    return 0;
}

int get_number(struct req *r, const char *key, double min, double max, double *out)
{
    json_object *v = present(r, key);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
        http_reply_error(r, 400, "invalid_field", "%s must be a number", key);
        return -1;
    }
    double d = json_object_get_double(v);
    if (!isfinite(d) || d < min || d > max) {
        http_reply_error(r, 400, "invalid_field", "%s must be between %g and %g", key, min, max);
        return -1;
    }
    *out = d;
    return 0;
}

int get_uint(struct req *r, const char *key, uint64_t min, uint64_t max, uint32_t *out)
{
    json_object *v = present(r, key);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_int)) {
        http_reply_error(r, 400, "invalid_field", "%s must be an integer", key);
        return -1;
    }
    int64_t i = json_object_get_int64(v);
    if (i < (int64_t)min || (uint64_t)i > max) {
        http_reply_error(r, 400, "invalid_field", "%s must be an integer from %llu to %llu", key,
                         (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = (uint32_t)i;
    return 0;
}

int get_bool(struct req *r, const char *key, int *out)
{
    json_object *v = present(r, key);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_boolean)) {
        http_reply_error(r, 400, "invalid_field", "%s must be true or false", key);
        return -1;
    }
    *out = json_object_get_boolean(v);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void strlist_normalize(struct strlist *l)
{
    if (l->n < 2) return;
    qsort(l->items, l->n, sizeof *l->items, cmp_str);
    uint32_t w = 1;
    for (uint32_t i = 1; i < l->n; i++) {
        if (strcmp(l->items[i], l->items[w - 1]) == 0)
            free(l->items[i]);
        else
            l->items[w++] = l->items[i];
    }
    l->n = w;
}

void strlist_free(struct strlist *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

char *strlist_join(const struct strlist *l)
{
    size_t len = 1;
    for (uint32_t i = 0; i < l->n; i++)
        len += strlen(l->items[i]) + 1;
    char *s = xmalloc(len), *p = s;
    *p = '\0';
    for (uint32_t i = 0; i < l->n; i++) {
        if (i) *p++ = ',';
        size_t n = strlen(l->items[i]);
        memcpy(p, l->items[i], n + 1);
        p += n;
    }
    return s;
}

static int list_add(struct req *r, const char *key, uint32_t max, struct strlist *out,
                    const char *s)
{
    if (!valid_identifier(s)) {
        strlist_free(out);
        http_reply_error(r, 400, "invalid_field",
                         "%s: '%.140s' must be 1-128 characters of A-Z a-z 0-9 . _ : @ / -", key,
                         s);
        return -1;
    }
    if (out->n >= max) {
        strlist_free(out);
        http_reply_error(r, 400, "invalid_field", "%s has more than %u entries", key, max);
        return -1;
    }
    out->items = xrealloc(out->items, (out->n + 1) * sizeof *out->items);
    out->items[out->n++] = xstrdup(s);
    return 0;
}

int get_id_list(struct req *r, const char *key, uint32_t max, int *present_out, struct strlist *out)
{
    json_object *v = present(r, key);
    out->items = NULL;
    out->n = 0;
    if (present_out) *present_out = v != NULL;
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_array)) {
        http_reply_error(r, 400, "invalid_field", "%s must be an array of strings", key);
        return -1;
    }
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string) ||
            (size_t)json_object_get_string_len(e) != strlen(json_object_get_string(e))) {
            strlist_free(out);
            http_reply_error(r, 400, "invalid_field", "%s must be an array of strings", key);
            return -1;
        }
        if (list_add(r, key, max, out, json_object_get_string(e)) < 0) return -1;
    }
    strlist_normalize(out);
    return 0;
}

int query_id_list(struct req *r, const char *key, uint32_t max, struct strlist *out)
{
    out->items = NULL;
    out->n = 0;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &r->query, next)
    {
        if (strcmp(kv->key, key) != 0) continue;
        char *copy = xstrdup(kv->value);
        for (char *save, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (list_add(r, key, max, out, t) < 0) {
                free(copy);
                return -1;
            }
        }
        free(copy);
    }
    strlist_normalize(out);
    return 0;
}

int query_uint(struct req *r, const char *key, uint64_t min, uint64_t max, uint64_t dflt,
               uint64_t *out)
{
    const char *s = http_query(r, key);
    *out = dflt;
    if (!s) return 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || *s == '-' || v < min || v > max) {
        http_reply_error(r, 400, "invalid_field", "%s must be an integer from %llu to %llu", key,
                         (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int query_page(struct req *r, uint32_t max, uint32_t *limit, const char **after)
{
    uint64_t n;
    if (query_uint(r, "limit", 1, max, 0, &n) < 0) return -1;
    *limit = (uint32_t)n;
    *after = http_query(r, "after");
    if (*after && !valid_identifier(*after)) {
        http_reply_error(r, 400, "invalid_field",
                         "after must be an agent id (the previous page's next)");
        return -1;
    }
    return 0;
}
