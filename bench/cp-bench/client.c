/* client.c — the evhttp client pool: requests, timing, and the small JSON field scan the
 * scenarios use to read a task id or a timestamp out of a reply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include <cp/time.h>

#include "client.h"

int64_t now_us(void)
{
    return cp_monotonic_us();
}

struct pool *pool_new(struct event_base *base, const char *host, int port, int n, int timeout_s,
                      const char *token)
{
    struct pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->base = base;
    p->n = n;
    p->port = port;
    snprintf(p->host, sizeof p->host, "%s", host);
    if (strchr(host, ':'))
        snprintf(p->hostport, sizeof p->hostport, "[%s]:%d", host, port);
    else
        snprintf(p->hostport, sizeof p->hostport, "%s:%d", host, port);
    if (token && *token) snprintf(p->auth, sizeof p->auth, "Bearer %s", token);
    p->conns = calloc((size_t)n, sizeof *p->conns);
    if (!p->conns) {
        free(p);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        struct conn *c = &p->conns[i];
        c->pool = p;
        c->index = i;
        c->evcon = evhttp_connection_base_new(base, NULL, p->host, (ev_uint16_t)port);
        if (!c->evcon) {
            p->n = i;
            pool_free(p);
            return NULL;
        }
        evhttp_connection_set_timeout(c->evcon, timeout_s);
        evhttp_connection_set_retries(c->evcon, 0);
    }
    return p;
}

void pool_free(struct pool *p)
{
    if (!p) return;
    /* Freeing a connection drops its pending request without calling back. */
    for (int i = 0; i < p->n; i++)
        if (p->conns[i].evcon) evhttp_connection_free(p->conns[i].evcon);
    free(p->conns);
    free(p);
}

static void on_response(struct evhttp_request *req, void *arg)
{
    struct conn *c = arg;
    int64_t lat = now_us() - c->sent_us;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    const char *body = "";
    size_t len = 0;
    if (req) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        len = evbuffer_get_length(in);
        if (len) body = (const char *)evbuffer_pullup(in, -1);
    }
    c->busy = 0;
    conn_done_fn done = c->done;
    done(c, status, body, len, lat);
}

int conn_request(struct conn *c, enum evhttp_cmd_type method, const char *path, const char *body,
                 size_t body_len, conn_done_fn done)
{
    if (c->busy) return -1;
    struct evhttp_request *req = evhttp_request_new(on_response, c);
    if (!req) return -1;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", c->pool->hostport);
    if (c->pool->auth[0]) evhttp_add_header(h, "Authorization", c->pool->auth);
    if (body) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, body_len);
    }
    c->done = done;
    c->busy = 1;
    c->sent_us = now_us();
    /* On failure evhttp_make_request frees req itself. */
    if (evhttp_make_request(c->evcon, req, method, path) != 0) {
        c->busy = 0;
        return -1;
    }
    return 0;
}

const char *json_find(const char *body, size_t len, const char *key)
{
    char pat[64];
    int n = snprintf(pat, sizeof pat, "\"%s\":", key);
    if (n <= 0 || (size_t)n >= sizeof pat) return NULL;
    const char *p = memmem(body, len, pat, (size_t)n);
    return p ? p + n : NULL;
}
