/* config_expand.c — what the YAML layer does to values before checking them: ${VAR} is replaced
 * by the environment variable VAR ("$$" is a literal '$'), and token_file entries are read from
 * files that only their owner may read. Secrets stay out of the configuration file, and a
 * variable that is not set stops start-up instead of becoming a guessable literal token. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"

#define MAX_EXPANDED 65536 /* bytes of one value after expansion */
#define MAX_VAR_NAME 128
#define MAX_TOKEN_FILE 4096 /* a token is at most 4096 characters, plus a newline */

static int var_char(char c, int first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

int cfg_expand(const char *in, const char *(*getenv_fn)(const char *), const char *where,
               char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!strchr(in, '$')) return 0; /* nothing to do: the common case */
    size_t cap = strlen(in) + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) goto nomem;
    for (const char *p = in; *p;) {
        const char *piece = p, *value = NULL;
        size_t len = 1;
        if (p[0] == '$' && p[1] == '$') {
            p += 2; /* "$$" -> "$" */
        } else if (p[0] == '$' && p[1] == '{') {
            const char *name = p + 2, *q = name;
            while (var_char(*q, q == name))
                q++;
            size_t nlen = (size_t)(q - name);
            if (*q != '}' || nlen == 0 || nlen > MAX_VAR_NAME) {
                snprintf(err, errlen,
                         "config: a value%s has '${' without a variable name and '}'; write "
                         "${NAME} (letters, digits, '_'), or $$ for a literal '$'",
                         where);
                goto fail;
            }
            char var[MAX_VAR_NAME + 1];
            memcpy(var, name, nlen);
            var[nlen] = '\0';
            value = getenv_fn(var);
            if (!value || !*value) {
                /* The name is not a secret; the value would be. */
                snprintf(err, errlen,
                         "config: ${%s}%s: environment variable %s is %s; set it (or write $$ "
                         "for a literal '$')",
                         var, where, var, value ? "empty" : "not set");
                goto fail;
            }
            p = q + 1;
        } else {
            p++; /* a lone '$' stays as it is */
        }
        if (value) {
            piece = value;
            len = strlen(value);
        }
        if (n + len + 1 > MAX_EXPANDED) {
            snprintf(err, errlen, "config: a value%s is longer than %d bytes after expansion",
                     where, MAX_EXPANDED);
            goto fail;
        }
        if (n + len + 1 > cap) {
            while (n + len + 1 > cap)
                cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) goto nomem;
            buf = nb;
        }
        memcpy(buf + n, piece, len);
        n += len;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
nomem:
    snprintf(err, errlen, "config: out of memory expanding a value%s", where);
fail:
    if (buf) {
        memset(buf, 0, n); /* it may hold a secret already */
        free(buf);
    }
    return -1;
}

int cfg_read_token_file(const char *path, const char *pos, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path || !*path) {
        snprintf(err, errlen, "config: %s: token_file is empty; expected a path", pos);
        return -1;
    }
    char q[80];
    cfg_quote(path, q, sizeof q);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "config: %s: cannot read token_file '%s': %s", pos, q,
                 strerror(errno));
        return -1;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "config: %s: token_file '%s' is not a regular file", pos, q);
        goto fail;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen,
                 "config: %s: token_file '%s' is accessible by group or others (mode %04o); "
                 "a token file must be private to its owner: chmod 600 '%s'",
                 pos, q, (unsigned)(st.st_mode & 07777), q);
        goto fail;
    }
    buf = malloc(MAX_TOKEN_FILE + 3);
    if (!buf) {
        snprintf(err, errlen, "config: out of memory");
        goto fail;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, MAX_TOKEN_FILE + 2 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "config: %s: cannot read token_file '%s': %s", pos, q,
                     strerror(errno));
            goto fail;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > MAX_TOKEN_FILE + 1) {
            snprintf(err, errlen,
                     "config: %s: token_file '%s' is longer than a token (%d characters)", pos, q,
                     MAX_TOKEN_FILE);
            goto fail;
        }
    }
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0'; /* one trailing newline, as echo writes */
    if (n > 0 && buf[n - 1] == '\r') buf[--n] = '\0';
    if (n == 0) {
        snprintf(err, errlen, "config: %s: token_file '%s' is empty", pos, q);
        goto fail;
    }
    close(fd);
    *out = buf;
    return 0;
fail:
    if (buf) {
        memset(buf, 0, MAX_TOKEN_FILE + 3);
        free(buf);
    }
    close(fd);
    return -1;
}
