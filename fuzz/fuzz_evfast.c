/* fuzz_evfast.c — libFuzzer target for core/evfast.c: cpd's evbuffer_add_printf (the reply-head
 * formats), evutil_snprintf ("%zu"), glibc's sscanf of an HTTP version, evutil_ascii_strcasecmp and
 * evhttp_find_header against libevent's own (dlsym RTLD_NEXT) on hostile bytes; any difference in
 * output, return value or result aborts. Input: a mode byte, then NUL-separated strings (and for
 * the status line, three ints). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "evfast.h"

typedef int (*add_printf_fn)(struct evbuffer *, const char *, ...);
typedef int (*strcasecmp_fn)(const char *, const char *);
typedef int (*sscanf_fn)(const char *, const char *, ...);
int __isoc99_sscanf(const char *s, const char *format, ...);
typedef int (*snprintf_fn)(char *, size_t, const char *, ...);
typedef const char *(*find_header_fn)(const struct evkeyvalq *, const char *);

static add_printf_fn real_printf;
static strcasecmp_fn real_strcasecmp;
static find_header_fn real_find;
static snprintf_fn real_snprintf;
static sscanf_fn real_sscanf;

/* The next NUL-terminated piece of [*p, end) as a fresh string (the rest when no NUL). */
static char *piece(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *start = *p, *nul = memchr(start, 0, (size_t)(end - start));
    size_t n = nul ? (size_t)(nul - start) : (size_t)(end - start);
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, start, n);
    s[n] = '\0';
    *p = nul ? nul + 1 : end;
    return s;
}

static void same_buffers(struct evbuffer *a, struct evbuffer *b)
{
    size_t n = evbuffer_get_length(a);
    if (n != evbuffer_get_length(b)) abort();
    if (n && memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), n) != 0) abort();
}

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!real_printf) {
        real_printf = (add_printf_fn)dlsym(RTLD_NEXT, "evbuffer_add_printf");
        real_strcasecmp = (strcasecmp_fn)dlsym(RTLD_NEXT, "evutil_ascii_strcasecmp");
        real_find = (find_header_fn)dlsym(RTLD_NEXT, "evhttp_find_header");
        real_snprintf = (snprintf_fn)dlsym(RTLD_NEXT, "evutil_snprintf");
        real_sscanf = (sscanf_fn)dlsym(RTLD_NEXT, "__isoc99_sscanf");
        if (!real_printf || !real_strcasecmp || !real_find || !real_snprintf || !real_sscanf ||
            !evfast_active())
            abort();
    }
    if (size < 1) return 0;
    const uint8_t *p = data + 1, *end = data + size;
    struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
    switch (data[0] % 4) {
    case 0: { /* a header line */
        char *key = piece(&p, end), *value = piece(&p, end);
        if (evbuffer_add_printf(a, "%s: %s\r\n", key, value) !=
            real_printf(b, "%s: %s\r\n", key, value))
            abort();
        same_buffers(a, b);
        free(key), free(value);
        break;
    }
    case 1: { /* a status line, and a size in a buffer of 0..31 bytes */
        int v[3] = {0, 0, 0};
        size_t n = (size_t)(end - p) < sizeof v ? (size_t)(end - p) : sizeof v;
        memcpy(v, p, n);
        p += n;
        char *reason = piece(&p, end);
        if (evbuffer_add_printf(a, "HTTP/%d.%d %d %s\r\n", v[0], v[1], v[2], reason) !=
            real_printf(b, "HTTP/%d.%d %d %s\r\n", v[0], v[1], v[2], reason))
            abort();
        same_buffers(a, b);
        free(reason);
        size_t size_value;
        memcpy(&size_value, v, sizeof size_value);
        size_t cap = (size_t)(unsigned)v[2] % 32;
        char x[32], y[32];
        memset(x, 0, sizeof x), memset(y, 0, sizeof y);
        if (evutil_snprintf(x, cap, "%zu", size_value) != real_snprintf(y, cap, "%zu", size_value))
            abort();
        if (memcmp(x, y, sizeof x) != 0) abort();
        break;
    }
    case 2: { /* two names compared; the first read as an HTTP version */
        char *x = piece(&p, end), *y = piece(&p, end);
        if (sign(evutil_ascii_strcasecmp(x, y)) != sign(real_strcasecmp(x, y))) abort();
        int a1 = -7, a2 = -7, b1 = -7, b2 = -7;
        char ac = '?', bc = '?';
        if (__isoc99_sscanf(x, "HTTP/%d.%d%c", &a1, &a2, &ac) !=
                real_sscanf(x, "HTTP/%d.%d%c", &b1, &b2, &bc) ||
            a1 != b1 || a2 != b2 || ac != bc)
            abort();
        free(x), free(y);
        break;
    }
    default: { /* a key, then up to 16 header names looked up */
        char *key = piece(&p, end);
        struct evkeyvalq h;
        TAILQ_INIT(&h);
        for (int i = 0; i < 16 && p < end; i++) {
            char *name = piece(&p, end);
            struct evkeyval *kv = calloc(1, sizeof *kv);
            if (!kv || !(kv->value = strdup("v"))) abort();
            kv->key = name; /* any bytes: evhttp_add_header would refuse some */
            TAILQ_INSERT_TAIL(&h, kv, next);
        }
        if (evhttp_find_header(&h, key) != real_find(&h, key)) abort();
        while (!TAILQ_EMPTY(&h)) {
            struct evkeyval *kv = TAILQ_FIRST(&h);
            TAILQ_REMOVE(&h, kv, next);
            free(kv->key), free(kv->value), free(kv);
        }
        free(key);
    }
    }
    evbuffer_free(a), evbuffer_free(b);
    return 0;
}
