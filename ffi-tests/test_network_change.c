/* ws_network_changed (issue 14, item 5): when the phone switches networks, every OPEN task (of a
 * group, or all) is probed with a ping; a task whose path died fails within the probe deadline,
 * a healthy one carries on.
 *
 * A dead path is a connection through ffi-tests/relay.py that the relay "freezes": it stops
 * forwarding both ways without closing anything, as a network that went away does. Without a
 * probe such a task stays OPEN (TCP would notice after minutes).
 */
#include "common.h"
#include "peer_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static peer_process g_relay; /* ports[0]: the relay to the test server, ports[1]: its control port */

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

static char *relay_url(void) {
    static char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/echo", g_relay.ports[0]);
    return url;
}

/* Freezes every connection relayed so far; returns how many (-1 on failure). */
static int freeze_paths(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_relay.ports[1])};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int n = -1;
    char buf[64] = {0};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, "freeze\n", 7) == 7) {
        ssize_t got = 0, r;
        while (got < (ssize_t)sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += r;
        if (sscanf(buf, "ok %d", &n) != 1) n = -1;
    }
    if (fd >= 0) close(fd);
    return n;
}

/* The echo still works. */
static void check_echo(int64_t id, task_rec *rec) {
    int before = rec_get(rec).messages;
    CHECK_EQ(ws_send(id, (const uint8_t *)"still here", 10, WS_TEXT, NULL, NULL), WS_OK);
    rec_count_arg arg = {rec, before + 1};
    CHECK(wait_for(rec_has_messages, &arg));
    CHECK_EQ(rec_get(rec).messages, before + 1);
}

/* The case: the path of one OPEN task dies silently; after ws_network_changed for its
 * group it fails within the probe deadline (WS_ERR_TIMEOUT, close 1006), while a healthy task
 * of the same group stays OPEN and keeps echoing. Before that, a call for another group leaves
 * the dead task alone: only the call makes it fail. */
static void case_dead_path_fails_healthy_stays(void) {
    task_rec *dead = rec_new("dead path"), *healthy = rec_new("healthy");
    int64_t d = CONNECT(relay_url(), dead, 7);
    int64_t h = CONNECT(ws_url("/echo"), healthy, 7);
    if (!WAIT_OPEN(dead) || !WAIT_OPEN(healthy)) return;
    check_echo(d, dead);
    check_echo(h, healthy);
    CHECK_EQ(freeze_paths(), 1);

    CHECK_EQ(ws_network_changed(8, false, 200), WS_OK); /* another group */
    sleep_ms(600);
    CHECK_EQ(ws_ready_state(d), WS_OPEN);
    CHECK_EQ(rec_get(dead).errors, 0);

    double t0 = now_ms();
    CHECK_EQ(ws_network_changed(7, false, 500), WS_OK);
    if (!WAIT_CLOSE(dead)) return;
    double took = now_ms() - t0;
    printf("    the dead task failed %.0f ms after the call (probe deadline 500 ms)\n", took);
    CHECK(took >= 450); /* it waited for the deadline: the ping itself did not fail */
    CHECK_ERROR(dead, WS_ERR_TIMEOUT, "onSocketError:fail network changed: no answer to the probe within 500 ms");
    CHECK_CLOSE(dead, 1006, false, NULL);
    CHECK_SEQUENCE(dead, d);

    sleep_ms(200); /* past the healthy task's deadline too */
    CHECK_EQ(ws_ready_state(h), WS_OPEN);
    CHECK_EQ(rec_get(healthy).errors, 0);
    check_echo(h, healthy);
    CLOSE_AND_WAIT(h, healthy);
}

/* all_groups: the group number is ignored; a dead task of any group fails, healthy tasks of
 * other groups answer. CONNECTING tasks are not probed. A second call while a probe is out keeps
 * the first deadline. */
static void case_all_groups(void) {
    task_rec *dead = rec_new("dead, group 9"), *other = rec_new("healthy, group 10");
    int64_t d = CONNECT(relay_url(), dead, 9);
    int64_t o = CONNECT(ws_url("/echo"), other, 10);
    if (!WAIT_OPEN(dead) || !WAIT_OPEN(other)) return;
    CHECK_EQ(freeze_paths(), 2); /* the first case's path and this one */
    /* a task still connecting (the silent peer never answers the upgrade) is left alone */
    char silent[64];
    snprintf(silent, sizeof silent, "ws://127.0.0.1:%s/", env_or_die("SILENT_PORT"));
    task_rec *connecting = rec_new("connecting");
    int64_t c = CONNECT(silent, connecting, 11);

    double t0 = now_ms();
    CHECK_EQ(ws_network_changed(12345, true, 400), WS_OK);
    CHECK_EQ(ws_network_changed(0, true, 5000), WS_OK); /* does not push the deadline back */
    if (!WAIT_CLOSE(dead)) return;
    CHECK(now_ms() - t0 < 4000);
    CHECK_ERROR(dead, WS_ERR_TIMEOUT, "onSocketError:fail network changed: no answer to the probe within 400 ms");
    CHECK_SEQUENCE(dead, d);
    sleep_ms(200);
    CHECK_EQ(ws_ready_state(o), WS_OPEN);
    CHECK_EQ(ws_ready_state(c), WS_CONNECTING);
    CHECK_EQ(rec_get(connecting).errors, 0);
    check_echo(o, other);
    CLOSE_AND_WAIT(o, other);
    CLOSE_AND_WAIT(c, connecting);
}

/* No runtime: nothing to probe, and none is started for it. */
static void case_without_a_runtime(void) {
    CHECK_EQ(ws_shutdown(), WS_OK);
    CHECK_EQ(ws_network_changed(0, true, 0), WS_OK);
}

int main(void) {
    tests_begin("test_network_change");
    if (!peer_start(&g_relay, "relay.py")) return 1;
    RUN_CASE(case_dead_path_fails_healthy_stays);
    RUN_CASE(case_all_groups);
    RUN_CASE(case_without_a_runtime);
    peer_stop(&g_relay);
    return tests_end();
}
