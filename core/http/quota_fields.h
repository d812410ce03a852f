/* quota_fields.h — usage and 429 members of complete/fail bodies (quota_fields.c). */
#ifndef CORE_HTTP_QUOTA_FIELDS_H
#define CORE_HTTP_QUOTA_FIELDS_H

#include "http.h"
#include "validate.h"

/* `usage` into tr (usage_set 1 when given). 0, or -1 after replying 400. */
int quota_fields_usage(struct req *r, struct cp_transition *tr);
/* `reason` and `retry_after_ms` of a fail into tr. 0, or -1 after replying 400. */
int quota_fields_rate_limited(struct req *r, struct cp_transition *tr);

#endif
