/* utf8.c — strict UTF-8 validation and the one-pass JSON body check (see utf8.h). Runs over
 * every request body: ASCII costs one comparison per byte. */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

size_t utf8_sequence_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0; /* overlong below U+0800 */
        if (c == 0xED) hi = 0x9F; /* U+D800-U+DFFF are surrogates, not characters */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90; /* overlong below U+10000 */
        if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong ASCII) or F5-FF */
    }
    if (avail < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        if (*p < 0x80) {
            p++, left--;
            continue;
        }
        size_t n = utf8_sequence_len(p, left);
        if (!n) return 0;
        p += n, left -= n;
    }
    return 1;
}

void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        size_t n = *p < 0x80 ? 1 : utf8_sequence_len(p, left);
        if (!n) {
            *p = '?';
            n = 1;
        }
        p += n, left -= n;
    }
}

static int hex4(const char *p, size_t avail, unsigned *out)
{
    unsigned v = 0;
    if (avail < 4) return -1;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* 1 when text holds a byte the check below could object to: a non-ASCII byte (UTF-8), a
 * backslash (a \u escape) or a single quote. Most bodies hold none, and are then passed eight
 * bytes per step instead of walked through their strings byte by byte. */
static int may_have_issue(const unsigned char *t, size_t len)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    const uint64_t backslash = ones * '\\', quote = ones * '\'';
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v, b, q;
        memcpy(&v, t + i, 8);
        b = v ^ backslash;
        q = v ^ quote;
        /* (x - ones) & ~x & highs is non-zero when a byte of x is zero. */
        if ((v | ((b - ones) & ~b) | ((q - ones) & ~q)) & highs) return 1;
    }
    for (; i < len; i++)
        if (t[i] >= 0x80 || t[i] == '\\' || t[i] == '\'') return 1;
    return 0;
}

/* The top-level member is tracked so that the error can name it: at depth 1 of the body object
 * a string after '{' or ',' is a member name. */
enum json_text_problem json_text_check(const char *text, size_t len, struct json_text_issue *issue)
{
    const unsigned char *t = (const unsigned char *)text;
    int depth = 0, expect_name = 0;
    size_t name_start = 0, name_len = 0;
    int have_name = 0;
    memset(issue, 0, sizeof *issue);
    if (!may_have_issue(t, len)) return JSON_TEXT_OK;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = t[i];
        if (c != '"') {
            if (c == '{' || c == '[') {
                depth++;
                expect_name = depth == 1 && c == '{';
            } else if (c == '}' || c == ']') {
                depth--;
            } else if (c == ',' && depth == 1) {
                expect_name = 1;
            } else if (c == '\'') {
                issue->problem = JSON_TEXT_SINGLE_QUOTE;
                issue->offset = i;
                return issue->problem;
            }
            continue;
        }
        /* A string: find its end, checking escapes and UTF-8 on the way. */
        int is_name = depth == 1 && expect_name;
        size_t start = i + 1;
        enum json_text_problem bad = JSON_TEXT_OK;
        size_t bad_at = 0;
        for (i = start; i < len && t[i] != '"' && !bad; i++) {
            if (t[i] == '\\') {
                if (i + 1 < len && t[i + 1] == 'u') {
                    unsigned u, u2;
                    if (hex4(text + i + 2, len - i - 2, &u) < 0) {
                        i++;
                        continue; /* json-c rejected worse already; not ours to judge */
                    }
                    if (u >= 0xD800 && u <= 0xDBFF && i + 11 < len && t[i + 6] == '\\' &&
                        t[i + 7] == 'u' && hex4(text + i + 8, len - i - 8, &u2) == 0 &&
                        u2 >= 0xDC00 && u2 <= 0xDFFF) {
                        i += 11; /* a pair: one character */
                    } else if (u >= 0xD800 && u <= 0xDFFF) {
                        bad = JSON_TEXT_LONE_SURROGATE, bad_at = i;
                    } else {
                        i += 5;
                    }
                } else {
                    i++;
                }
            } else if (t[i] >= 0x80) {
                size_t n = utf8_sequence_len(t + i, len - i);
                if (!n)
                    bad = JSON_TEXT_BAD_UTF8, bad_at = i;
                else
                    i += n - 1;
            }
        }
        if (bad) {
            issue->problem = bad;
            issue->offset = bad_at;
            if (!is_name && have_name) {
                issue->member = text + name_start;
                issue->member_len = name_len;
            }
            return bad;
        }
        if (is_name) {
            name_start = start;
            name_len = i - start;
            have_name = 1;
            expect_name = 0;
        }
    }
    return JSON_TEXT_OK;
}
