/* claims.h — the agent side that the claiming scenarios (lifecycle, wakeup, claim) share: send a
 * claim or a complete as agent <prefix>-<conn seq>, and read their answers into the run. */
#ifndef CPB_CLAIMS_H
#define CPB_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

#include "run.h"

/* POST /tasks/claim holding up to block_ms; a send that evhttp refuses is a fatal error. */
void claim_send(struct run *r, struct conn *c, uint32_t block_ms, conn_done_fn done);
/* POST /tasks/<task_id>/complete; a send that evhttp refuses is a fatal error. */
void complete_send(struct run *r, struct conn *c, const char *task_id, conn_done_fn done);

/* A claim's answer: 1 with the task id in out (and its payload stamp in *sent_us, or -1), 0 when
 * no task came back, -1 when it failed (counted as an error; fatal when the connection failed or
 * the agent is unknown). */
int claim_answer(struct run *r, int status, const char *body, size_t len, char *out, size_t cap,
                 int64_t *sent_us);
/* A complete's answer: its latency recorded into histogram h when it succeeded, else counted as
 * an error (fatal when the connection failed). */
void complete_answer(struct run *r, int h, int status, const char *body, size_t len, int64_t lat);

#endif
