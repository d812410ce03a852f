/* plugin_loader.c — dlopen a plugin .so, check its descriptor before any of its code runs, and
 * create one instance with its host-services table. Every refusal is one line naming the file
 * and the reason; a bad plugin never crashes cpd. */
#include "plugin_loader.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cp/probe.h>
#include <cp/selection.h>
#include <cp/storage.h>

#include "storage_compat.h"
#include "xalloc.h"

/* The members every ops table starts with (a common initial sequence of all of them). */
struct ops_header {
    CP_OPS_HEADER;
};

#define NAME_MAX_LEN 64

/* The ops version this host knows for `kind`: a table claiming a newer one is from a newer SDK. */
static uint32_t ops_version_of(uint32_t kind)
{
    return kind == CP_PLUGIN_STORAGE     ? CP_STORAGE_OPS_VERSION
           : kind == CP_PLUGIN_SELECTION ? CP_SELECTION_OPS_VERSION
                                         : CP_PROBE_OPS_VERSION;
}

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case CP_PLUGIN_STORAGE:
        return "storage";
    case CP_PLUGIN_SELECTION:
        return "selection";
    case CP_PLUGIN_PROBE:
        return "probe";
    default:
        return NULL;
    }
}

static void fail(char *err, size_t errlen, const char *path, const char *fmt, ...) CP_PRINTF(4, 5);
static void fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    int n = snprintf(err, errlen, "plugin %s: ", path);
    if (n < 0 || (size_t)n >= errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

char *plugin_resolve(const char *spec, const char *dir, char *err, size_t errlen)
{
    if (!spec || !*spec) {
        snprintf(err, errlen, "plugin: empty plugin name");
        return NULL;
    }
    size_t len = strlen(spec);
    char *out;
    if (strchr(spec, '/') || (len > 3 && strcmp(spec + len - 3, ".so") == 0)) {
        out = xstrdup(spec);
    } else {
        if (!dir || !*dir) {
            snprintf(err, errlen, "plugin %s: no plugin directory to look it up in", spec);
            return NULL;
        }
        size_t n = strlen(dir) + 1 + len + 4;
        out = xmalloc(n);
        snprintf(out, n, "%s/%s.so", dir, spec);
    }
    return out;
}

/* dlerror() usually starts with the path again; keep only the reason. */
static const char *dl_reason(const char *path)
{
    const char *e = dlerror();
    if (!e) return "unknown dynamic loader error";
    size_t n = strlen(path);
    if (strncmp(e, path, n) == 0 && e[n] == ':' && e[n + 1] == ' ') return e + n + 2;
    return e;
}

static int name_ok(const char *name)
{
    size_t n = strnlen(name, NAME_MAX_LEN + 1);
    if (n == 0 || n > NAME_MAX_LEN) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* The ops the core calls without checking for NULL; NULL if all are present, else the name of
 * the first missing one. Optional members (storage watch/is_available) are not listed. */
static const char *missing_op(uint32_t kind, const void *ops)
{
#define REQUIRE(type, member)                                                                      \
    if (((const type *)ops)->member == NULL) return #member
    switch (kind) {
    case CP_PLUGIN_STORAGE:
        REQUIRE(struct cp_storage_ops, agent_register);
        REQUIRE(struct cp_storage_ops, agent_get);
        REQUIRE(struct cp_storage_ops, agent_list);
        REQUIRE(struct cp_storage_ops, agent_heartbeat);
        REQUIRE(struct cp_storage_ops, agent_unregister);
        REQUIRE(struct cp_storage_ops, agent_set_health);
        REQUIRE(struct cp_storage_ops, task_submit);
        REQUIRE(struct cp_storage_ops, task_get);
        REQUIRE(struct cp_storage_ops, task_list);
        REQUIRE(struct cp_storage_ops, task_claim);
        REQUIRE(struct cp_storage_ops, task_transition);
        REQUIRE(struct cp_storage_ops, reap);
        REQUIRE(struct cp_storage_ops, stats);
        break;
    case CP_PLUGIN_SELECTION:
        REQUIRE(struct cp_selection_ops, select);
        break;
    case CP_PLUGIN_PROBE:
        REQUIRE(struct cp_probe_ops, validate);
        REQUIRE(struct cp_probe_ops, start);
        REQUIRE(struct cp_probe_ops, release);
        break;
    }
    return NULL;
#undef REQUIRE
}

/* Every check that needs no plugin code to run. 0, or -1 with err set. */
static int check_descriptor(const struct plugin_set *set, const char *path,
                            const struct cp_plugin_descriptor *d, int kind, char *err,
                            size_t errlen)
{
    if (d->abi_major != CP_ABI_MAJOR) {
        fail(err, errlen, path, "ABI major %u, this cpd speaks %d (rebuild it against this SDK)",
             (unsigned)d->abi_major, CP_ABI_MAJOR);
        return -1;
    }
    if (d->abi_minor > CP_ABI_MINOR) {
        fail(err, errlen, path, "ABI %u.%u is newer than this cpd's %d.%d (upgrade cpd)",
             (unsigned)d->abi_major, (unsigned)d->abi_minor, CP_ABI_MAJOR, CP_ABI_MINOR);
        return -1;
    }
    if (!d->build_signature || strcmp(d->build_signature, CP_BUILD_SIGNATURE) != 0) {
        fail(err, errlen, path,
             "build signature '%.80s' does not match this cpd's '%s' (rebuild it "
             "against this SDK)",
             d->build_signature ? d->build_signature : "(null)", CP_BUILD_SIGNATURE);
        return -1;
    }
    const char *have = kind_name(d->kind), *want = kind_name((uint32_t)kind);
    if (!have) {
        fail(err, errlen, path, "unknown plugin kind %u (expected %s)", (unsigned)d->kind,
             want ? want : "?");
        return -1;
    }
    if (d->kind != (uint32_t)kind) {
        fail(err, errlen, path, "is a %s plugin, but a %s plugin was expected here", have,
             want ? want : "?");
        return -1;
    }
    if (!d->name || !name_ok(d->name)) {
        fail(err, errlen, path, "plugin name is %s; expected 1-%d characters of [A-Za-z0-9_.-]",
             d->name ? (*d->name ? "invalid" : "empty") : "missing", NAME_MAX_LEN);
        return -1;
    }
    const struct plugin *dup = plugin_find(set, kind, d->name);
    if (dup) {
        fail(err, errlen, path, "a %s plugin named '%s' is already loaded (from %s)", have, d->name,
             dup->path);
        return -1;
    }
    const struct ops_header *h = d->ops;
    if (!h) {
        fail(err, errlen, path, "'%s' has no ops table", d->name);
        return -1;
    }
    if (h->version < 1) {
        fail(err, errlen, path, "'%s' has ops version %u; at least 1 is required", d->name,
             (unsigned)h->version);
        return -1;
    }
    if (h->version > ops_version_of(d->kind)) {
        fail(err, errlen, path,
             "'%s' has %s ops version %u, newer than this cpd's %u (upgrade cpd)", d->name, have,
             (unsigned)h->version, (unsigned)ops_version_of(d->kind));
        return -1;
    }
    if (!h->create) {
        fail(err, errlen, path, "'%s' has no create() in its ops table", d->name);
        return -1;
    }
    const char *missing = missing_op(d->kind, d->ops);
    if (missing) {
        fail(err, errlen, path, "'%s' lacks the required %s op '%s'", d->name, have, missing);
        return -1;
    }
    return 0;
}

/* Open `path` and check its descriptor: everything short of running plugin code. Returns the
 * dlopen handle (descriptor in *out), or NULL with err set. */
static void *open_checked(const struct plugin_set *set, const char *path, int kind,
                          const struct cp_plugin_descriptor **out, char *err, size_t errlen)
{
    if (!path || !*path) {
        snprintf(err, errlen, "plugin: empty path");
        return NULL;
    }
    if (set->n >= sizeof set->items / sizeof set->items[0]) {
        fail(err, errlen, path, "too many plugins loaded (at most %zu)",
             sizeof set->items / sizeof set->items[0]);
        return NULL;
    }
    /* dlopen() searches the library path for names without '/'; a config names files. */
    char local[PATH_MAX];
    const char *open_path = path;
    if (!strchr(path, '/')) {
        snprintf(local, sizeof local, "./%s", path);
        open_path = local;
    }
    struct stat st;
    if (stat(open_path, &st) != 0) {
        fail(err, errlen, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(err, errlen, path, "not a regular file");
        return NULL;
    }
    if (!set->trust_any && plugin_path_trusted(path, err, errlen) != 0) return NULL;
    dlerror();
    void *dl = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fail(err, errlen, path, "not a loadable shared object: %s", dl_reason(open_path));
        return NULL;
    }
    dlerror();
    const struct cp_plugin_descriptor *d = dlsym(dl, "cp_plugin_descriptor");
    if (!d) {
        fail(err, errlen, path,
             "no cp_plugin_descriptor symbol; not a cpd plugin (define one "
             "with CP_PLUGIN_DEFINE)");
        dlclose(dl);
        return NULL;
    }
    if (check_descriptor(set, path, d, kind, err, errlen) != 0) {
        dlclose(dl);
        return NULL;
    }
    *out = d;
    return dl;
}

int plugin_check(const struct plugin_set *set, const char *path, int kind,
                 const struct cfg_option *options, size_t n_options, char *err, size_t errlen)
{
    const struct cp_plugin_descriptor *d = NULL;
    void *dl = open_checked(set, path, kind, &d, err, errlen);
    if (!dl) return -1;
    int rc = 0;
    const struct cp_storage_ops *so = d->ops;
    if (kind == CP_PLUGIN_STORAGE && so->version >= 3 && so->validate_options) {
        /* A host table like create() gets, owned by a plugin record that never enters a set. */
        struct plugin p;
        memset(&p, 0, sizeof p);
        p.path = (char *)path;
        p.dl = dl;
        p.desc = d;
        p.ops = d->ops;
        p.options = options;
        p.n_options = options ? n_options : 0;
        host_init(&p.host, &p);
        struct cp_err cerr;
        memset(&cerr, 0, sizeof cerr);
        int vrc = so->validate_options(&p.host, &cerr);
        if (vrc != 0) {
            cerr.msg[sizeof cerr.msg - 1] = '\0';
            fail(err, errlen, path, "'%s' options are not valid: %s", d->name,
                 cerr.msg[0] ? cerr.msg : (vrc < 0 ? strerror(-vrc) : "rejected"));
            rc = -1;
        }
        host_release(&p);
    }
    dlclose(dl);
    return rc;
}

struct plugin *plugin_load(struct plugin_set *set, const char *path, int kind,
                           const struct cfg_option *options, size_t n_options, char *err,
                           size_t errlen)
{
    const struct cp_plugin_descriptor *d = NULL;
    void *dl = open_checked(set, path, kind, &d, err, errlen);
    if (!dl) return NULL;

    struct plugin *p = xcalloc(1, sizeof *p);
    p->path = xstrdup(path);
    p->dl = dl;
    p->desc = d;
    p->ops = d->ops;
    p->options = options;
    p->n_options = options ? n_options : 0;
    host_init(&p->host, p);

    const struct ops_header *h = d->ops;
    struct cp_err cerr;
    memset(&cerr, 0, sizeof cerr);
    void *state = NULL;
    int rc = h->create(&p->host, &state, &cerr);
    if (rc != 0) {
        cerr.msg[sizeof cerr.msg - 1] = '\0';
        fail(err, errlen, path, "'%s' failed to start: %s", d->name,
             cerr.msg[0] ? cerr.msg : (rc < 0 ? strerror(-rc) : "create() returned an error"));
        host_release(p);
        free(p->path);
        free(p);
        dlclose(dl);
        return NULL;
    }
    p->state = state;
    /* A storage plugin of an older minor runs through a wrapper (storage_compat.h). */
    if (kind == CP_PLUGIN_STORAGE && storage_compat_wrap(p, err, errlen) != 0) {
        if (h->destroy) h->destroy(state);
        host_release(p);
        free(p->path);
        free(p);
        dlclose(dl);
        return NULL;
    }
    set->items[set->n++] = p;
    return p;
}

struct plugin *plugin_find(const struct plugin_set *set, int kind, const char *name)
{
    if (!set || !name) return NULL;
    for (size_t i = 0; i < set->n; i++) {
        struct plugin *p = set->items[i];
        if (p->desc->kind == (uint32_t)kind && strcmp(p->desc->name, name) == 0) return p;
    }
    return NULL;
}

static void unload(struct plugin *p)
{
    const struct ops_header *h = p->ops;
    if (h->destroy) h->destroy(p->state);
    host_release(p);
    dlclose(p->dl);
    free(p->path);
    free(p);
}

void plugin_unload(struct plugin_set *set, struct plugin *p)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->items[i] != p) continue;
        memmove(&set->items[i], &set->items[i + 1], (set->n - i - 1) * sizeof set->items[0]);
        set->items[--set->n] = NULL;
        unload(p);
        return;
    }
}

void plugin_set_unload(struct plugin_set *set)
{
    if (!set) return;
    while (set->n > 0) {
        struct plugin *p = set->items[--set->n];
        set->items[set->n] = NULL;
        unload(p);
    }
}

/* realpath of <dir>/<rel> when that is a directory, else NULL. malloc'd. */
static char *existing_dir(const char *dir, const char *rel)
{
    char joined[PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= sizeof joined) return NULL;
    char *real = realpath(joined, NULL);
    struct stat st;
    if (real && stat(real, &st) == 0 && S_ISDIR(st.st_mode)) return real;
    free(real);
    return NULL;
}

/* Found from cpd's own location so that an installed tree works wherever it was installed
 * (cmake --install --prefix P, an unpacked .deb); the configure-time prefix is the last
 * resort. */
char *plugin_default_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) n = 0;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        const char *bin = exe[0] ? exe : "/";
        char *dir = existing_dir(bin, "plugins");                     /* a build tree */
        if (!dir) dir = existing_dir(bin, CP_PLUGIN_DIR_FROM_BINDIR); /* installed */
        if (dir) return dir;
    }
    return xstrdup(CP_INSTALL_PLUGIN_DIR);
}
