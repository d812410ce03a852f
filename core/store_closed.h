/* store_closed.h — a storage ops table that refuses everything (used after shutdown). */
#ifndef CORE_STORE_CLOSED_H
#define CORE_STORE_CLOSED_H

#include <cp/storage.h>

extern const struct cp_storage_ops store_closed_ops;

#endif
