/* storage_compat.h — running a storage plugin built for an older minor of this ABI major (see
 * cp/abi.h): the core then calls a wrapper table instead of the plugin's own. */
#ifndef CORE_STORAGE_COMPAT_H
#define CORE_STORAGE_COMPAT_H

#include <stddef.h>
#include <stdint.h>

struct plugin;

/* Called by the loader once a storage plugin's create() succeeded. A plugin built for this
 * host's minor and ops version keeps its own table (no cost). Any other gets a wrapper that
 *   - reads what the plugin returns only as far as each struct's `size` says: members appended
 *     after its minor read as 0/NULL, and a result too short for this major becomes
 *     CP_ERR_UNAVAILABLE ("... returned a result of N bytes ...") instead of being read;
 *   - presents ops that its table's version predates as absent (NULL);
 *   - answers CP_ERR_INVALID, without calling it, to an enum value appended after its minor.
 * p->ops and p->state then point at the wrapper, whose destroy() destroys the plugin and then
 * itself. Returns 0, or -1 with err set (out of memory). */
int storage_compat_wrap(struct plugin *p, char *err, size_t errlen);

/* 1 when p's operations go through the wrapper. */
int storage_compat_active(const struct plugin *p);

/* The enums the wrapper guards, and how many values each had at `minor` of this major (the
 * transition kinds: the highest kind). For the tables' own test. */
enum compat_enum {
    COMPAT_AGENT_STATUS,
    COMPAT_TASK_STATUS,
    COMPAT_PRIORITY,
    COMPAT_HEALTH,
    COMPAT_CIRCUIT,
    COMPAT_TRANSITION,
};
int storage_compat_enum_count(enum compat_enum which, uint32_t minor);

#endif
