/* conns.h — the server's connections below the request level: accepting them (at most
 * limits.max_connections, answering 503 beyond; pausing with a growing delay when the process
 * runs out of file descriptors), the read deadline of each request
 * (limits.header_timeout_seconds), one close callback per connection shared by the request
 * code, and the contract's JSON in place of the HTML error pages that evhttp writes by itself
 * (malformed request line, head over its size limit, body over its limit...).
 *
 * evhttp 2.1 gives no hook when it accepts or frees a connection; cpd creates each connection's
 * bufferevent (evhttp_set_bevcb), takes the connection over right after evhttp has set it up,
 * and learns of its end through the connection's close callback. */
#ifndef CORE_HTTP_CONNS_H
#define CORE_HTTP_CONNS_H

#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "core.h"

struct http_conns;

/* Tracking for `http`'s connections (installs its bufferevent hook and idle timeout). NULL when
 * out of memory. */
struct http_conns *conns_new(struct cp_core *core, struct evhttp *http);
/* Take over accepting on `lev` (evhttp's listener): pauses, the max_connections gate. */
int conns_attach_listener(struct http_conns *c, struct evconnlistener *lev);
/* Stop accepting and the timers (before evhttp_free; the connections' close callbacks that
 * evhttp_free runs still find their state). */
void conns_stop(struct http_conns *c);
void conns_free(struct http_conns *c);

/* Open connections counted against limits.max_connections. */
size_t conns_open(const struct http_conns *c);

/* The connection's close callback, set through here (evhttp has one slot per connection and
 * cpd needs it for its own bookkeeping). */
void conns_set_closecb(struct http_conns *c, struct evhttp_connection *evcon,
                       void (*cb)(struct evhttp_connection *, void *), void *arg);
/* A complete request was read: its read deadline is over. */
void conns_request_read(struct http_conns *c, struct evhttp_connection *evcon);
/* cpd writes its own reply between these two calls (anything else written to the connection
 * is evhttp's error page and is turned into JSON). */
void conns_reply_begin(struct http_conns *c, struct evhttp_connection *evcon);
void conns_reply_end(struct http_conns *c, struct evhttp_connection *evcon);
/* A complete reply was handed to evhttp: write it from the loop, later in this turn, rather
 * than on the socket's next writability (fewer system calls; see conns.c). */
void conns_reply_flush(struct http_conns *c, struct evhttp_connection *evcon);

#endif
