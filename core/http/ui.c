/* ui.c — the web dashboard's files, served read-only under /ui/ (public: the files hold no data;
 * every API call the page makes carries the user's token).
 *
 * Where the files are: found from cpd's own location like the plugins (plugin_loader.c), so a
 * build tree (<bindir>/ui) and an installed tree (<bindir>/../share/cp/ui, wherever it was
 * installed) both work; the configure-time prefix is the last resort.
 *
 * Strict by construction, since the path comes from the network:
 *   - a path is 1–UI_MAX_DEPTH segments of [A-Za-z0-9_.-], none empty or starting with '.',
 *     and no percent-escapes: "..", hidden files and encodings never reach the file system;
 *   - each segment is opened with openat(O_NOFOLLOW) from the directory opened once, so no
 *     symbolic link inside the tree leads out of it;
 *   - only regular files up to UI_MAX_FILE_BYTES, and only the extensions below (each with its
 *     content type; anything else is 404), with nosniff and a Content-Security-Policy that
 *     allows nothing but this origin. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../log.h"
#include "routes.h"

#define UI_PREFIX "/ui"
#define UI_MAX_DEPTH 4
#define UI_MAX_PATH 256
#define UI_MAX_FILE_BYTES (1024 * 1024)

static const struct route ui_route = {EVHTTP_REQ_GET, UI_PREFIX "/", NULL, -1};

static const struct {
    const char *ext, *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return NULL;
    for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++)
        if (strcmp(dot, content_types[i].ext) == 0) return content_types[i].type;
    return NULL;
}

/* The directory's file descriptor, opened on first use and kept for the process's life (the
 * binary does not move); -1 when there is none. */
static int ui_dir_fd = -2;

static int open_dir(const char *dir, const char *rel)
{
    char joined[PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= sizeof joined) return -1;
    return open(joined, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int ui_dir(void)
{
    if (ui_dir_fd != -2) return ui_dir_fd;
    int fd = -1;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        const char *bin = exe[0] ? exe : "/";
        fd = open_dir(bin, "ui");                              /* a build tree */
        if (fd < 0) fd = open_dir(bin, CP_UI_DIR_FROM_BINDIR); /* installed */
    }
    if (fd < 0) fd = open(CP_INSTALL_UI_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        log_warn("the web dashboard's files were not found (%s/ui, %s, %s): /ui/ answers 404", exe,
                 CP_UI_DIR_FROM_BINDIR, CP_INSTALL_UI_DIR);
    ui_dir_fd = fd;
    return fd;
}

/* rest (after "/ui/") into segments in buf; "" or a trailing '/' name index.html. 0 or -1. */
static int split_ui_path(const char *rest, char *buf, size_t buflen, char **seg, int *nseg)
{
    size_t len = strlen(rest);
    if (len >= UI_MAX_PATH || len + sizeof "index.html" > buflen) return -1;
    memcpy(buf, rest, len + 1);
    if (len == 0 || buf[len - 1] == '/') memcpy(buf + len, "index.html", sizeof "index.html");
    *nseg = 0;
    for (char *p = buf;;) {
        if (*nseg == UI_MAX_DEPTH || *p == '.' || *p == '/' || *p == '\0') return -1;
        seg[(*nseg)++] = p;
        for (; *p && *p != '/'; p++) {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.'))
                return -1;
        }
        if (*p == '\0') return 0;
        *p++ = '\0';
    }
}

/* The file of the segments, opened beneath the directory without following links; -1. */
static int open_beneath(int dir, char **seg, int nseg)
{
    int fd = dir;
    for (int i = 0; i < nseg; i++) {
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (i + 1 < nseg ? O_DIRECTORY : 0);
        int next = openat(fd, seg[i], flags);
        if (fd != dir) close(fd);
        if (next < 0) return -1;
        fd = next;
    }
    return fd;
}

/* The file's bytes into a new evbuffer, or NULL (not a regular file, too large, read error). */
static struct evbuffer *read_file(int fd, const char *name)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) return NULL;
    if (st.st_size > UI_MAX_FILE_BYTES) {
        log_warn("ui: %s is %lld bytes, over the %d served: not served", name,
                 (long long)st.st_size, UI_MAX_FILE_BYTES);
        return NULL;
    }
    struct evbuffer *b = xevbuffer_new();
    char chunk[16384];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || total + (size_t)n > UI_MAX_FILE_BYTES) {
            evbuffer_free(b);
            return NULL;
        }
        if (n == 0) return b;
        if (evbuffer_add(b, chunk, (size_t)n) < 0) xalloc_die("evbuffer_add", (size_t)n);
        total += (size_t)n;
    }
}

int ui_path(const char *path)
{
    return path && strncmp(path, UI_PREFIX, sizeof UI_PREFIX - 1) == 0 &&
           (path[sizeof UI_PREFIX - 1] == '\0' || path[sizeof UI_PREFIX - 1] == '/');
}

void ui_serve(struct req *r, int method, const char *path)
{
    r->route = &ui_route;
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        evhttp_add_header(out, "Allow", "GET, HEAD");
        http_reply_error(r, 405, "method_not_allowed",
                         "the dashboard's files are read-only; "
                         "allowed: GET, HEAD");
        return;
    }
    if (path[sizeof UI_PREFIX - 1] == '\0') { /* relative links need the slash */
        evhttp_add_header(out, "Location", UI_PREFIX "/");
        http_reply_typed(r, 301, "text/plain; charset=utf-8", NULL);
        return;
    }
    char buf[UI_MAX_PATH + sizeof "index.html"];
    char *seg[UI_MAX_DEPTH];
    int nseg = 0;
    const char *type = NULL;
    int dir = ui_dir();
    int fd = -1;
    struct evbuffer *body = NULL;
    if (dir >= 0 && split_ui_path(path + sizeof UI_PREFIX, buf, sizeof buf, seg, &nseg) == 0 &&
        (type = content_type_of(seg[nseg - 1])) != NULL && (fd = open_beneath(dir, seg, nseg)) >= 0)
        body = read_file(fd, seg[nseg - 1]);
    if (fd >= 0) close(fd);
    if (!body) {
        http_reply_error(r, 404, "not_found", "no such dashboard file: %.200s", path);
        return;
    }
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(out, "X-Frame-Options", "DENY");
    evhttp_add_header(out, "Referrer-Policy", "no-referrer");
    evhttp_add_header(out, "Content-Security-Policy",
                      "default-src 'none'; script-src 'self'; style-src 'self'; "
                      "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                      "form-action 'none'; frame-ancestors 'none'");
    if (method == EVHTTP_REQ_HEAD) { /* evhttp would send the body after the head */
        char len[32];
        snprintf(len, sizeof len, "%zu", evbuffer_get_length(body));
        evhttp_add_header(out, "Content-Length", len);
        evbuffer_free(body);
        body = NULL;
    }
    http_reply_typed(r, 200, type, body);
}
