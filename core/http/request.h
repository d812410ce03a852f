/* request.h — checks of a request before its handler runs (request.c). Each returns 0, or -1
 * after it has replied (the req is then ended). */
#ifndef CORE_HTTP_REQUEST_H
#define CORE_HTTP_REQUEST_H

#include "http.h"

/* Ambiguous framing (Content-Length twice with different values, or with Transfer-Encoding; a
 * transfer coding other than chunked), more than 100 header fields, CONNECT and TRACE. The
 * connection is closed after the error. */
int request_check_message(struct req *r, int method);
/* Path ids and query names/values must be UTF-8 (400 invalid_json naming them). */
int request_check_text(struct req *r);
/* Parse the body into r->body: a JSON object of valid Unicode text, within
 * limits.max_body_bytes, of Content-Type application/json. */
int request_parse_body(struct req *r, json_tokener *tok);

#endif
