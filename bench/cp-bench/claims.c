/* claims.c — claim and complete requests and answers for the claiming scenarios. */
#include <stdio.h>

#include "bodies.h"
#include "claims.h"

void claim_send(struct run *r, struct conn *c, uint32_t block_ms, conn_done_fn done)
{
    char b[256];
    size_t blen = claim_body(r->a, c->seq, block_ms, b, sizeof b);
    if (conn_request(c, EVHTTP_REQ_POST, API "/tasks/claim", b, blen, done) != 0)
        run_error(r, "claim", 0, "", 0, 1);
}

void complete_send(struct run *r, struct conn *c, const char *task_id, conn_done_fn done)
{
    char path[160], b[256];
    snprintf(path, sizeof path, API "/tasks/%s/complete", task_id);
    size_t blen = complete_body(r->a, c->seq, b, sizeof b);
    if (conn_request(c, EVHTTP_REQ_POST, path, b, blen, done) != 0)
        run_error(r, "complete", 0, "", 0, 1);
}

int claim_answer(struct run *r, int status, const char *body, size_t len, char *out, size_t cap,
                 int64_t *sent_us)
{
    int got = status == 200 ? claim_reply(body, len, out, cap, sent_us) : -1;
    if (got < 0) run_error(r, "claim", status, body, len, status == 0 || status == 404);
    return got;
}

void complete_answer(struct run *r, int h, int status, const char *body, size_t len, int64_t lat)
{
    if (status == 200)
        run_record(r, h, lat);
    else
        run_error(r, "complete", status, body, len, status == 0);
}
