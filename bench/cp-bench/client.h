/* client.h — a pool of keep-alive HTTP/1.1 connections on libevent's evhttp client.
 *
 * Each conn carries at most one request at a time (closed loop: the scenario sends the next one
 * from the previous one's callback), so the per-request state lives in the conn and nothing is
 * allocated per request beyond what evhttp itself allocates. A conn that the server closes is
 * reconnected by evhttp on its next request. */
#ifndef CPB_CLIENT_H
#define CPB_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

struct conn;
struct pool;

/* Called once per request. status 0 means the connection failed (or was reset); body points
 * into evhttp's buffer (not NUL-terminated) and is valid only during the call. The callback may
 * send the next request on the same conn. */
typedef void (*conn_done_fn)(struct conn *c, int status, const char *body, size_t len,
                             int64_t latency_us);

struct conn {
    struct pool *pool;
    struct evhttp_connection *evcon;
    int index;
    int busy;
    int64_t sent_us;
    conn_done_fn done;
    void *user;   /* the scenario's per-conn state (borrowed) */
    uint64_t seq; /* the scenario's per-conn counter */
};

struct pool {
    struct event_base *base;
    struct conn *conns;
    int n;
    char host[64];
    int port;
    char hostport[80];
    char auth[512]; /* "Bearer <token>" or "" */
};

/* n connections to host:port; request timeout `timeout_s` seconds (raise it above any long-poll
 * hold). NULL on allocation failure. */
struct pool *pool_new(struct event_base *base, const char *host, int port, int n, int timeout_s,
                      const char *token);
void pool_free(struct pool *p);

/* Send a request on an idle conn. body may be NULL (no body). Returns 0, or -1 when the conn is
 * busy or evhttp refused the request (then `done` is not called). */
int conn_request(struct conn *c, enum evhttp_cmd_type method, const char *path, const char *body,
                 size_t body_len, conn_done_fn done);

/* Monotonic microseconds. */
int64_t now_us(void);

/* Find `"key":` in a JSON text and return a pointer to the value after it, or NULL. A cheap scan
 * for the fields the scenarios read (task id, payload stamp); cpd renders without spaces. */
const char *json_find(const char *body, size_t len, const char *key);

#endif
