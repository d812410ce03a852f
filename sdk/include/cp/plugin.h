/* cp/plugin.h — what every plugin .so exports, and the services the host lends it.
 *
 * A plugin exports exactly one data symbol, `cp_plugin_descriptor`, made with CP_PLUGIN_DEFINE.
 * The host reads the version fields before it runs any plugin code. The descriptor starts with
 * abi_major and abi_minor in every major; within a major its layout is frozen: new information
 * goes into the ops tables (append-only, see abi.h).
 *
 * Ownership: whoever allocates frees. Strings the host passes in are borrowed for the duration
 * of the call; copy them to keep them. Plugin state is an opaque pointer created by create().
 * Errors: functions return 0 or a negative CP_ERR_* (negative errno values); detail goes into a
 * caller-provided struct cp_err. The positive CP_DECLINED means "no opinion".
 */
#ifndef CP_PLUGIN_H
#define CP_PLUGIN_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CP_DECLINED 1
#define CP_ERR_NOT_FOUND (-ENOENT) /* no such agent / task */
#define CP_ERR_CONFLICT (-EBUSY)   /* transition not allowed from the current state */
#define CP_ERR_INVALID (-EINVAL)   /* bad argument */
#define CP_ERR_NOMEM (-ENOMEM)     /* allocation failed */
#define CP_ERR_UNAVAILABLE (-EIO)  /* backend unreachable; nothing was changed */

struct cp_err {
    char msg[256];
};

enum cp_plugin_kind {
    CP_PLUGIN_STORAGE = 1,
    CP_PLUGIN_SELECTION = 2,
    CP_PLUGIN_PROBE = 3,
};

enum cp_log_level { CP_LOG_DEBUG = 0, CP_LOG_INFO = 1, CP_LOG_WARN = 2, CP_LOG_ERROR = 3 };

struct event_base; /* libevent */
struct cp_timer;   /* opaque, owned by the host */

/* Services the host lends to a plugin instance; valid until the instance's destroy() returns.
 * A minor may append services (bumping CP_HOST_VERSION): check host->version before calling a
 * member appended after the version you built with. Plugins allocate with malloc()/free() and
 * take wall-clock time from the operations' now_ms arguments (ABI 1's alloc, free and now_ms
 * services had no user and were retired in 2.0). */
struct cp_host {
    uint32_t version; /* CP_HOST_VERSION of the host; members appended only */
    void *host_private;

    /* Log one line, prefixed with the plugin's name. Never log secrets. */
    void (*log)(const struct cp_host *host, int level, const char *fmt, ...) CP_PRINTF(3, 4);
    /* This plugin's `options` from the config, as strings; NULL when absent. */
    const char *(*option)(const struct cp_host *host, const char *key);
    /* The host's event loop, for plugins with a libevent-aware client. NULL in unit tests that
     * run without a loop. */
    struct event_base *(*event_base)(const struct cp_host *host);
    /* One-shot timer: cb runs once on the loop after `ms`. Cancel before it fires to free it;
     * after it fired the timer is freed by the host. */
    struct cp_timer *(*timer_add)(const struct cp_host *host, uint64_t ms, void (*cb)(void *arg),
                                  void *arg);
    void (*timer_cancel)(const struct cp_host *host, struct cp_timer *timer);
};
#define CP_HOST_VERSION 1

/* Every ops table begins with these three members. `version` is the kind's CP_*_OPS_VERSION the
 * plugin was built with: the host calls an op only when version is at least the one that
 * appended it (see abi.h). */
#define CP_OPS_HEADER                                                                              \
    uint32_t version;                                                                              \
    int (*create)(const struct cp_host *host, void **state, struct cp_err *err);                   \
    void (*destroy)(void *state)

struct cp_plugin_descriptor {
    uint32_t abi_major;
    uint32_t abi_minor; /* the minor the plugin targets: CP_ABI_TARGET_MINOR */
    const char *build_signature;
    uint32_t kind;       /* enum cp_plugin_kind */
    const char *name;    /* unique per kind: what configs and requests call it */
    const char *version; /* the plugin's own version, informative */
    const void *ops;     /* struct cp_storage_ops / cp_selection_ops / cp_probe_ops */
};

#define CP_PLUGIN_DEFINE(kind_, name_, version_, ops_)                                             \
    CP_PLUGIN_EXPORT const struct cp_plugin_descriptor cp_plugin_descriptor =                      \
        {CP_ABI_MAJOR, CP_ABI_TARGET_MINOR, CP_BUILD_SIGNATURE, (kind_), (name_), (version_),      \
         (ops_)}

#ifdef __cplusplus
}
#endif
#endif
