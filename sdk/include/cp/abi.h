/* cp/abi.h — the plugin ABI version and build signature.
 *
 * A plugin is accepted only when its descriptor says
 *   abi_major == CP_ABI_MAJOR && abi_minor <= CP_ABI_MINOR
 * and its build signature equals the host's (same pointer model, same libevent major.minor,
 * since probe and storage plugins share the host's event_base).
 *
 * Versioning policy:
 *   - a MINOR bump may only append members to the end of an ops table or of struct cp_host,
 *     append enum values, or add new inline helpers. Older plugins keep working.
 *   - anything else (reordering, removing, changing a type or a meaning) is a MAJOR bump.
 *
 * Changelog:
 *   1.0  first release: storage, selection and probe plugin kinds.
 *   1.1  struct cp_reap gains max_terminal (a cap on stored terminal tasks); cp_storage_ops
 *        version 2 appends validate_options (checked by --check-config without connecting).
 */
#ifndef CP_ABI_H
#define CP_ABI_H

#define CP_ABI_MAJOR 1
#define CP_ABI_MINOR 1

#define CP_STRINGIFY_(x) #x
#define CP_STRINGIFY(x) CP_STRINGIFY_(x)

#if defined(__LP64__) || defined(_LP64)
#define CP_ABI_DATA_MODEL "lp64"
#else
#define CP_ABI_DATA_MODEL "ilp32"
#endif

/* libevent 2.1 is part of the signature: plugins may use the host's struct event_base. */
#define CP_BUILD_SIGNATURE                                                                         \
    "cp-abi-" CP_STRINGIFY(CP_ABI_MAJOR) ";" CP_ABI_DATA_MODEL ";libevent-2.1"

#if defined(__GNUC__)
#define CP_PLUGIN_EXPORT __attribute__((visibility("default")))
#define CP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CP_PLUGIN_EXPORT
#define CP_PRINTF(fmt, args)
#endif

#endif
