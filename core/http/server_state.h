/* server_state.h — the HTTP server's state, shared by server.c (which owns it) and reply.c (the
 * accessors requests use). Nothing else includes it. */
#ifndef CORE_HTTP_SERVER_STATE_H
#define CORE_HTTP_SERVER_STATE_H

#include <json-c/json.h>

struct cp_core;
struct evhttp;
struct http_conns;
struct sse_hub;

struct http_server {
    struct cp_core *core;
    struct evhttp *http;
    json_tokener *tok;        /* reused for every body: a fresh one costs ~4 % of a request */
    struct http_conns *conns; /* accepting, deadlines, close callbacks (conns.c) */
    struct sse_hub *sse;      /* the event stream (sse.c) */
};

#endif
