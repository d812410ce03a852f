/* conns_internal.h — the connection tracker's state, shared by conns.c (accepting, counting,
 * timing out, closing) and conns_write.c (what is written to a connection: cpd's replies and
 * evhttp's own pages turned into JSON). Not for use outside these two files. */
#ifndef CP_HTTP_CONNS_INTERNAL_H
#define CP_HTTP_CONNS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "conns.h"

struct conn {
    struct http_conns *owner;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* NULL until adopted */
    evutil_socket_t fd;
    struct conn *next_pending;
    struct event *deadline;   /* checks reading_since; re-armed lazily (see on_deadline) */
    int64_t reading_since_ms; /* first byte of the request being read; 0 between requests */
    struct event *rewrite;    /* made when evhttp first writes a page of its own */
    struct event *flush;      /* made with the first reply (conns_reply_flush) */
    struct evbuffer_cb_entry *in_cb, *out_cb;
    void (*user_cb)(struct evhttp_connection *, void *);
    void *user_arg;
    size_t lib_bytes; /* bytes evhttp wrote by itself since the last rewrite */
    unsigned timer_pending : 1, rewriting : 1, rewrite_queued : 1, flush_queued : 1;
};

struct http_conns {
    struct cp_core *core;
    struct evhttp *http;
    struct evconnlistener *lev;     /* evhttp's */
    struct evconnlistener *refuser; /* the same socket, answering 503 at max_connections */
    struct event *adopt_ev, *resume_ev;
    struct conn *pending; /* created, not adopted yet */
    struct conn **by_fd;  /* adopted connections by socket */
    size_t by_fd_cap;
    struct conn *last; /* the last lookup's answer: a request and its reply ask in a row */
    size_t open;
    int lev_on, refuser_on, paused;
    int64_t delay_ms;
    /* accept() failures and refusals, for the rate-limited log lines */
    int64_t fail_since_ms, fail_logged_ms, refuse_logged_ms;
    unsigned long long fails, fails_unlogged, refused_unlogged;
    char reply_503[512], reply_408[512]; /* canned: sent with one send(), no allocation */
    size_t reply_503_len, reply_408_len;
    uint32_t reply_503_max;  /* the max_connections reply_503 names */
    int64_t idle_timeout_ms; /* what evhttp was given */
    struct http_conns *next_registered;
};

/* The tracked connection behind evcon, or NULL (not adopted yet, or not ours). */
struct conn *conns_lookup(struct http_conns *c, struct evhttp_connection *evcon);
/* The output buffer callback of every adopted connection (conns_write.c). */
void conns_on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

#endif
