/* evfast.c — cheaper versions of functions that evhttp calls for every request.
 *
 * evhttp writes a reply's status line and each of its headers with evbuffer_add_printf
 * ("HTTP/%d.%d %d %s\r\n", "%s: %s\r\n": four calls a reply, ~1,500 instructions each through
 * glibc's vsnprintf) and its Content-Length with evutil_snprintf ("%zu"); it looks headers up
 * with evhttp_find_header and evutil_ascii_strcasecmp, which lowers each character through a
 * call of its own (~12 lookups and ~35 comparisons a request); and it reads each request's
 * HTTP version with glibc's sscanf. Together they were ~25 % of a heartbeat's instructions, and
 * libevent has no cheaper public path: all of it happens inside evhttp's request parsing and
 * evhttp_send_reply.
 *
 * libevent calls these functions by name through its PLT (Debian's libevent-2.1 is linked
 * without -Bsymbolic), so the dynamic linker resolves them to a definition in the executable
 * first: this file. The exact formats evhttp uses are handled here with memcpy and short
 * integer conversions; every other format or input goes to libevent's own evbuffer_add_vprintf
 * or evutil_vsnprintf, or to glibc's vsscanf — exactly what the replaced functions do. The
 * results are the same byte for byte (tests/unit/test_evfast.c and fuzz/fuzz_evfast.c compare
 * them with the originals, reached with dlsym(RTLD_NEXT)). Should the interposition ever not
 * take (a static libevent), the originals run and only the speed differs; evfast_active() says
 * which. */
#include "evfast.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

/* Hidden by default in this build (-fvisibility=hidden): these must be visible to the dynamic
 * linker to stand in for the originals. */
#define EVFAST_EXPORT __attribute__((visibility("default")))

/* Per thread: cpd runs one, but sscanf and snprintf may be called from any thread a library
 * starts, and a per-thread count is no data race and costs no atomic instruction. */
static _Thread_local struct evfast_counts counts;

static inline void count(uint64_t *c)
{
    (*c)++;
}

void evfast_counts(struct evfast_counts *out)
{
    *out = counts;
}

/* A line longer than this takes libevent's path (no header cpd or a client sends is near). */
#define LINE_MAX_BYTES 1024

/* The decimal text of v (as "%d" writes it) at the end of tmp[12]; returns its start. */
static char *int_text(char tmp[12], int v)
{
    char *p = tmp + 12;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return p;
}

static int add_line(struct evbuffer *buf, const char *line, size_t n)
{
    return evbuffer_add(buf, line, n) == 0 ? (int)n : -1;
}

static int header_line(struct evbuffer *buf, const char *key, const char *value)
{
    size_t k = strlen(key), v = strlen(value);
    if (k + v + 4 > LINE_MAX_BYTES) return -2;
    char line[LINE_MAX_BYTES];
    memcpy(line, key, k);
    line[k] = ':', line[k + 1] = ' ';
    memcpy(line + k + 2, value, v);
    line[k + 2 + v] = '\r', line[k + 3 + v] = '\n';
    count(&counts.header_lines);
    return add_line(buf, line, k + v + 4);
}

static int status_line(struct evbuffer *buf, int major, int minor, int code, const char *reason)
{
    size_t r = strlen(reason);
    if (r + 64 > LINE_MAX_BYTES) return -2;
    char line[LINE_MAX_BYTES], tmp[12];
    size_t n = 0;
    const char *t;
    memcpy(line, "HTTP/", 5), n = 5;
    t = int_text(tmp, major), memcpy(line + n, t, (size_t)(tmp + 12 - t)),
    n += (size_t)(tmp + 12 - t);
    line[n++] = '.';
    t = int_text(tmp, minor), memcpy(line + n, t, (size_t)(tmp + 12 - t)),
    n += (size_t)(tmp + 12 - t);
    line[n++] = ' ';
    t = int_text(tmp, code), memcpy(line + n, t, (size_t)(tmp + 12 - t)),
    n += (size_t)(tmp + 12 - t);
    line[n++] = ' ';
    memcpy(line + n, reason, r), n += r;
    line[n++] = '\r', line[n++] = '\n';
    count(&counts.status_lines);
    return add_line(buf, line, n);
}

/* libevent's own: { va_start; r = evbuffer_add_vprintf(buf, fmt, ap); va_end; return r; } */
EVFAST_EXPORT int evbuffer_add_printf(struct evbuffer *buf, const char *fmt, ...)
{
    va_list ap;
    int r = -2;
    va_start(ap, fmt);
    if (fmt[0] == '%' && strcmp(fmt, "%s: %s\r\n") == 0) {
        va_list copy;
        va_copy(copy, ap);
        const char *key = va_arg(copy, const char *), *value = va_arg(copy, const char *);
        va_end(copy);
        if (key && value) r = header_line(buf, key, value); /* NULL: printf's "(null)" */
    } else if (fmt[0] == 'H' && strcmp(fmt, "HTTP/%d.%d %d %s\r\n") == 0) {
        va_list copy;
        va_copy(copy, ap);
        int major = va_arg(copy, int), minor = va_arg(copy, int), code = va_arg(copy, int);
        const char *reason = va_arg(copy, const char *);
        va_end(copy);
        if (reason) r = status_line(buf, major, minor, code, reason);
    }
    if (r == -2) r = evbuffer_add_vprintf(buf, fmt, ap);
    va_end(ap);
    return r;
}

/* libevent's own: { if (!buflen) return 0; r = vsnprintf(buf, buflen, format, ap);
 * buf[buflen - 1] = '\0'; return r; } — evhttp formats every reply's Content-Length with "%zu". */
EVFAST_EXPORT int evutil_snprintf(char *buf, size_t buflen, const char *format, ...)
{
    va_list ap;
    int r;
    va_start(ap, format);
    if (format[0] == '%' && format[1] == 'z' && format[2] == 'u' && format[3] == '\0') {
        size_t v = va_arg(ap, size_t);
        char tmp[24];
        char *p = tmp + sizeof tmp;
        do {
            *--p = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        size_t n = (size_t)(tmp + sizeof tmp - p);
        count(&counts.sizes);
        if (buflen) {
            size_t copy = n < buflen ? n : buflen - 1;
            memcpy(buf, p, copy);
            buf[copy] = '\0';
            buf[buflen - 1] = '\0'; /* as libevent's, even after a shorter text */
        }
        r = buflen ? (int)n : 0;
    } else {
        r = evutil_vsnprintf(buf, buflen, format, ap);
    }
    va_end(ap);
    return r;
}

/* glibc's C99 sscanf and vsscanf, the names libevent's sscanf calls are linked to. */
int __isoc99_sscanf(const char *s, const char *format, ...);
int __isoc99_vsscanf(const char *s, const char *format, va_list ap);

/* evhttp reads every request's version with sscanf(version, "HTTP/%d.%d%c", ...) (~1,500
 * instructions). The two versions clients send, exactly, are answered here with what sscanf
 * would store and return (2: the %c finds the end); any other text or format is glibc's. */
EVFAST_EXPORT int __isoc99_sscanf(const char *s, const char *format, ...)
{
    va_list ap;
    int r;
    va_start(ap, format);
    if (format[0] == 'H' && s[0] == 'H' && strcmp(format, "HTTP/%d.%d%c") == 0 &&
        strncmp(s, "HTTP/1.", 7) == 0 && (s[7] == '0' || s[7] == '1') && s[8] == '\0') {
        int *major = va_arg(ap, int *), *minor = va_arg(ap, int *);
        *major = 1;
        *minor = s[7] - '0';
        count(&counts.versions);
        r = 2;
    } else {
        r = __isoc99_vsscanf(s, format, ap);
    }
    va_end(ap);
    return r;
}

static inline char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* libevent's own, with its EVUTIL_TOLOWER_ (only 'A'..'Z' change) inline, equal bytes passed
 * without lowering, and the comparison on plain char as there. */
EVFAST_EXPORT int evutil_ascii_strcasecmp(const char *s1, const char *s2)
{
    count(&counts.strcasecmps);
    for (;;) {
        char c1 = *s1++, c2 = *s2++;
        if (c1 == c2) {
            if (c1 == 0) return 0;
            continue;
        }
        c1 = ascii_lower(c1), c2 = ascii_lower(c2);
        if (c1 < c2) return -1;
        if (c1 > c2) return 1;
    }
}

/* libevent's own (the first header whose name equals key ignoring ASCII case), with names
 * that differ in their first letter passed over without a call. */
EVFAST_EXPORT const char *evhttp_find_header(const struct evkeyvalq *headers, const char *key)
{
    char first = ascii_lower(key[0]);
    struct evkeyval *header;
    TAILQ_FOREACH(header, headers, next)
    {
        if (ascii_lower(header->key[0]) != first) continue;
        if (evutil_ascii_strcasecmp(header->key, key) == 0) return header->value;
    }
    return NULL;
}

int evfast_active(void)
{
    void *found = dlsym(RTLD_DEFAULT, "evbuffer_add_printf");
    return found == (void *)&evbuffer_add_printf;
}
