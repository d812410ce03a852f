/* fuzz_request.c — libFuzzer target for the whole request path: each input is the raw bytes a
 * client sends on one connection (one request or several, well-formed or not). They go through
 * a UNIX socket into cpd's real HTTP server (evhttp, conns.c, routing, auth, body and query
 * validation, the handlers) on the memory store, as in cpd itself; the store, scheduler and
 * health monitor start empty for every input so that a crash reproduces from its input alone.
 *
 * Besides the sanitizers, one oracle: every error reply must be the contract's JSON
 * ({"error","code"}) and every JSON reply valid UTF-8 — a reply that breaks this aborts.
 * No probe plugin is loaded: a registered probe must not reach the network. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>

#include <cp/time.h>

#include "config.h"
#include "core.h"
#include "http/http.h"
#include "http/utf8.h"
#include "log.h"
#include "ops.h"
#include "plugin_loader.h"

static struct cp_config cfg;
static struct cp_core core;
static struct sockaddr_un addr;
static socklen_t addr_len;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_request: %s: %s\n", what, detail);
    exit(2);
}

static struct plugin *load(const char *dir, const char *name, int kind)
{
    char err[512];
    char *path = plugin_resolve(name, dir, err, sizeof err);
    struct plugin *p =
        path ? plugin_load(&core.plugins, path, kind, NULL, 0, err, sizeof err) : NULL;
    free(path);
    if (!p) die("plugin", err);
    return p;
}

static void setup(void)
{
    config_defaults(&cfg);
    cfg.log_level = CP_LOG_ERROR; /* storage errors etc. stay visible; request noise does not */
    log_set_level(cfg.log_level);
    core.cfg = &cfg;
    core.base = event_base_new();
    host_set_event_base(core.base);
    char *dir = getenv("CP_PLUGIN_DIR") ? strdup(getenv("CP_PLUGIN_DIR")) : plugin_default_dir();
    for (size_t i = 0; i < cfg.n_selection_plugins; i++)
        load(dir, cfg.selection_plugins[i].spec, CP_PLUGIN_SELECTION);
    core.storage_plugin = load(dir, "memory", CP_PLUGIN_STORAGE);
    core.store = core.storage_plugin->ops;
    free(dir);

    /* An abstract UNIX socket: no file, no port, private to this process's name. */
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    int n = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "cpd-fuzz-%d", (int)getpid());
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    struct evconnlistener *lev =
        evconnlistener_new_bind(core.base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_DISABLED, -1,
                                (struct sockaddr *)&addr, (int)addr_len);
    if (!lev) die("listen", strerror(errno));
    char err[512];
    core.http = http_server_new_listener(&core, lev, err, sizeof err);
    if (!core.http) die("http server", err);
    evconnlistener_enable(lev);
}

/* A fresh store, scheduler and health monitor for each input. */
static void core_begin(void)
{
    const struct cp_storage_ops *ops = core.storage_plugin->ops;
    struct cp_err err;
    memset(&err, 0, sizeof err);
    if (core.storage_plugin->state) ops->destroy(core.storage_plugin->state); /* plugin_load's */
    if (ops->create(&core.storage_plugin->host, &core.storage_plugin->state, &err) != 0)
        die("memory store", err.msg);
    core.st = core.storage_plugin->state;
    ops_open(&core, http_probe_decode);
    ops_start(&core);
}

static void core_end(void)
{
    ops_drain(&core);
    const struct cp_storage_ops *ops = core.storage_plugin->ops;
    ops->destroy(core.storage_plugin->state);
    core.storage_plugin->state = core.st = NULL;
    ops_close(&core);
}

static int64_t now_ms(void)
{
    return cp_monotonic_us() / 1000;
}

/* The oracle over the replies read back (responses one after the other). */
static void check_replies(const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        const char *head = buf + off;
        const char *end = memmem(head, len - off, "\r\n\r\n", 4);
        if (!end) return; /* cut short: the connection ended mid-reply */
        int status = 0;
        if (sscanf(head, "HTTP/%*d.%*d %d", &status) != 1) {
            fprintf(stderr, "fuzz_request: reply without a status line: %.80s\n", head);
            abort();
        }
        size_t head_len = (size_t)(end - head) + 4;
        char *h = strndup(head, head_len);
        if (!h) return;
        const char *cl = strcasestr(h, "\r\nContent-Length:");
        int json = strcasestr(h, "\r\nContent-Type: application/json") != NULL;
        long n = cl ? strtol(cl + 17, NULL, 10) : -1;
        free(h);
        off += head_len;
        if (status >= 100 && status < 200) continue;
        if (n < 0 || (size_t)n > len - off) return; /* no length (CONNECT) or cut short */
        const char *body = buf + off;
        off += (size_t)n;
        if (status >= 400 && !json) {
            fprintf(stderr, "fuzz_request: error %d is not JSON\n", status);
            abort();
        }
        if (!json) continue;
        char *text = strndup(body, (size_t)n);
        if (!text) return;
        if ((size_t)n != strlen(text) || !utf8_valid(text)) {
            fprintf(stderr, "fuzz_request: reply %d is not UTF-8 JSON text\n", status);
            abort();
        }
        json_object *o = json_tokener_parse(text);
        if (!o) {
            fprintf(stderr, "fuzz_request: reply %d is not JSON: %.200s\n", status, text);
            abort();
        }
        if (status >= 400) {
            json_object *e = NULL, *c = NULL;
            if (!json_object_is_type(o, json_type_object) ||
                !json_object_object_get_ex(o, "error", &e) ||
                !json_object_object_get_ex(o, "code", &c) ||
                !json_object_is_type(e, json_type_string) ||
                !json_object_is_type(c, json_type_string)) {
                fprintf(stderr, "fuzz_request: error %d is not {error, code}: %.200s\n", status,
                        text);
                abort();
            }
        }
        json_object_put(o);
        free(text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static char reply[1 << 20];
    if (!ready) {
        setup();
        ready = 1;
    }
    core_begin();
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, addr_len) != 0)
        die("connect", strerror(errno));
    size_t sent = 0, got = 0;
    int shut = 0;
    int64_t deadline = now_ms() + 3000;
    while (now_ms() < deadline) {
        if (sent < size) {
            ssize_t n = send(fd, data + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = size; /* the server closed: the rest is not read */
        }
        if (sent >= size && !shut) {
            shutdown(fd, SHUT_WR);
            shut = 1;
        }
        event_base_loop(core.base, EVLOOP_NONBLOCK);
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (n > 0) {
            size_t keep = (size_t)n < sizeof reply - got ? (size_t)n : sizeof reply - got;
            memcpy(reply + got, tmp, keep);
            got += keep;
            continue;
        }
        if (n == 0 || errno != EAGAIN) break;
    }
    close(fd);
    for (int i = 0; i < 8; i++) /* the server notices the close and frees the connection */
        event_base_loop(core.base, EVLOOP_NONBLOCK);
    /* HEAD replies carry no body whatever their Content-Length says: not worth parsing. */
    if (!memmem(data, size, "HEAD", 4)) check_replies(reply, got);
    core_end();
    return 0;
}
