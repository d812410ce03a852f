/* validate.h — request-field validation with the contract's errors. Every getter that fails
 * has already replied (400 missing_field / invalid_field naming the field) and returns -1;
 * the handler then returns without touching the req again. */
#ifndef CORE_HTTP_VALIDATE_H
#define CORE_HTTP_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define ID_MAX 128

/* 1 when s is 1–128 bytes of [A-Za-z0-9._:@/-]. */
int valid_identifier(const char *s);

/* Reply 400 invalid_field unless s is a valid identifier. */
int check_identifier(struct req *r, const char *field, const char *s);

/* Optional/required string member. *out borrowed from the body (NULL when absent). */
int get_string(struct req *r, const char *key, int required, const char **out);
/* Optional member: any JSON value re-serialized compactly (malloc'd; NULL when absent unless
 * `dflt` is given). `object_only`: must be an object. */
int get_json_text(struct req *r, const char *key, int object_only, const char *dflt, char **out);
/* Optional number in [min, max]; *out unchanged when absent. */
int get_number(struct req *r, const char *key, double min, double max, double *out);
int get_uint(struct req *r, const char *key, uint64_t min, uint64_t max, uint32_t *out);
int get_bool(struct req *r, const char *key, int *out);

/* A list of identifiers: a JSON array member (body) — sorted and de-duplicated, at most `max`.
 * *out is a malloc'd array of malloc'd strings (free with strlist_free). */
struct strlist {
    char **items;
    uint32_t n;
};
int get_id_list(struct req *r, const char *key, uint32_t max, int *present, struct strlist *out);
/* Query form: every `key=` occurrence, each comma-separated. */
int query_id_list(struct req *r, const char *key, uint32_t max, struct strlist *out);
void strlist_free(struct strlist *l);
/* Sort + dedupe in place. */
void strlist_normalize(struct strlist *l);
/* "a,b,c" (malloc'd) */
char *strlist_join(const struct strlist *l);

/* Query parameter as an unsigned integer in [min, max]; absent → dflt. */
int query_uint(struct req *r, const char *key, uint64_t min, uint64_t max, uint64_t dflt,
               uint64_t *out);
/* A page of a list: ?limit= (1..max; absent: *limit 0, every match) and ?after= (an agent id,
 * borrowed from the query; absent: NULL). */
int query_page(struct req *r, uint32_t max, uint32_t *limit, const char **after);

#endif
