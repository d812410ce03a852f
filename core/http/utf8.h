/* utf8.h — strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF)
 * and the one-pass check of JSON request bodies that json-c leaves undone: it stores invalid
 * UTF-8 as it is and turns lone \ud800-style escapes into U+FFFD without a word. */
#ifndef CORE_HTTP_UTF8_H
#define CORE_HTTP_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (at most `avail` bytes), or 0 when it is invalid or
 * cut short. s[0] must be >= 0x80 (ASCII needs no call). */
size_t utf8_sequence_len(const unsigned char *s, size_t avail);

/* 1 when the NUL-terminated s is valid UTF-8. */
int utf8_valid(const char *s);

/* Replace every byte that is not part of a valid UTF-8 sequence with '?', in place (messages
 * that echo request bytes must stay valid JSON text). */
void utf8_sanitize(char *s);

/* What json_text_check found. `member` points into the checked text (not NUL-terminated): the
 * top-level member the bad string belongs to, or NULL when it is a top-level member's name
 * itself or lies outside any member. */
enum json_text_problem {
    JSON_TEXT_OK = 0,
    JSON_TEXT_SINGLE_QUOTE,   /* a ' outside strings: json-c's strict mode still takes them */
    JSON_TEXT_BAD_UTF8,       /* a string holds bytes that are not UTF-8 */
    JSON_TEXT_LONE_SURROGATE, /* a \uD800-\uDFFF escape that is not half of a pair */
};
struct json_text_issue {
    enum json_text_problem problem;
    size_t offset; /* of the offending byte in the text */
    const char *member;
    size_t member_len;
};

/* One pass over JSON text that json-c has already accepted. Returns the problem (0 when none)
 * and fills *issue. */
enum json_text_problem json_text_check(const char *text, size_t len, struct json_text_issue *issue);

#endif
