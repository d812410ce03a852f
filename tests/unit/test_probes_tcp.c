/* test_probes_tcp.c — the built-in tcp probe, loaded from its real .so, against listening and
 * closed loopback ports, run as cpd runs it (core/probe_host.c): connect ok (by address and by
 * name), refused, a hung connect ended by the host's deadline, a cancelled check staying silent,
 * and address validation. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <cp/probe.h>

#include "probes_helpers.h"

/* ---- tcp ---- */

static void test_tcp(void **unused)
{
    (void)unused;
    struct probe p = probe_load("tcp");
    struct result r;
    char addr[64];
    int port, fd = listening_socket(&port, 16);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    check_run(&p, &r, 2000, "address", addr, "tcp");
    assert_int_equal(r.ok, 1);
    assert_string_equal(r.error, "(null)");
    assert_true(r.latency_ms >= 0 && r.latency_ms < 1000);

    snprintf(addr, sizeof(addr), "localhost:%d", port); /* resolved through evdns */
    check_run(&p, &r, 2000, "address", addr, "tcp");
    assert_int_equal(r.ok, 1);
    close(fd);

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port());
    check_run(&p, &r, 2000, "address", addr, "tcp");
    assert_int_equal(r.ok, 0);
    assert_non_null(strstr(r.error, "connect failed"));
    assert_non_null(strstr(r.error, "refused"));

    /* cancelled before the loop ran: silent, and release() frees the connection (ASan) */
    struct result r2;
    fd = listening_socket(&port, 16);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    probe_run_cancel(check_start(&p, &r2, 2000, "address", addr, "tcp"));
    run_for(50);
    assert_int_equal(r2.calls, 0);
    probe_unload(&p);
    close(fd);
}

static void test_tcp_timeout(void **unused)
{
    (void)unused;
    /* A listener whose accept queue is full drops further SYNs: the connect hangs. */
    int port, fd = listening_socket(&port, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fillers[4];
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    run_for(50);
    struct probe p = probe_load("tcp");
    struct result r;
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    check_run(&p, &r, 200, "address", addr, "tcp");
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(fd);
    probe_unload(&p);
    if (r.ok) skip(); /* this network stack does not drop SYNs on a full queue */
    assert_string_equal(r.error, "timed out after 200 ms"); /* the host's deadline */
    assert_true(r.latency_ms >= 190 && r.latency_ms < 450);
}

static void test_tcp_validate(void **unused)
{
    (void)unused;
    struct probe p = probe_load("tcp");
    expect_invalid(&p, "tcp", "address", NULL, "health_probe.address is required");
    expect_invalid(&p, "tcp", "address", "", "health_probe.address is required");
    expect_invalid(&p, "tcp", "address", "127.0.0.1", "health_probe.address must be host:port");
    expect_invalid(&p, "tcp", "address", "127.0.0.1:", "health_probe.address must be host:port");
    expect_invalid(&p, "tcp", "address", ":80", "health_probe.address must be host:port");
    expect_invalid(&p, "tcp", "address", "h:0", "health_probe.address port must be 1-65535");
    expect_invalid(&p, "tcp", "address", "h:70000", "health_probe.address port must be 1-65535");
    expect_invalid(&p, "tcp", "address", "h:80x", "health_probe.address port must be 1-65535");
    expect_invalid(&p, "tcp", "address", "::1:80", "health_probe.address must be host:port");
    expect_invalid(&p, "tcp", "address", "[nothost]:80", "health_probe.address must be host");
    expect_invalid(&p, "tcp", "address", "a b:80", "health_probe.address must be host:port");
    expect_invalid(&p, "tcp", "address", "http://h:80", "health_probe.address must be host");
    expect_valid(&p, "tcp", "address", "127.0.0.1:6379");
    expect_valid(&p, "tcp", "address", "[::1]:6379");
    expect_valid(&p, "tcp", "address", "redis-1.internal:6379");
    probe_unload(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_tcp_timeout),
        cmocka_unit_test(test_tcp_validate),
    };
    return cmocka_run_group_tests(tests, probes_setup, probes_teardown);
}
