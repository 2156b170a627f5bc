/* Network faults: the server process killed while a socket is open, a refused TCP connection, a
 * peer that never answers the handshake (connect timeout), and closing while CONNECTING. Each
 * must end in one error event (except the deliberate close) and then exactly one close 1006, and
 * free the group slot.
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

extern char **environ;

/* Starts a private copy of server.py (so this test may kill it) and returns its pid; *port is
 * its WebSocket port, read from its "READY <ws_port> <silent_port>" line. */
static pid_t spawn_server(int *port) {
    const char *python = env_or_die("PYTHON");
    const char *script = env_or_die("SERVER_PY");
    int fds[2];
    if (pipe(fds) != 0) return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    char *argv[] = {(char *)python, (char *)script, "0", "0", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, python, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    FILE *out = fdopen(fds[0], "r");
    char line[128] = "";
    int silent = 0;
    *port = 0;
    if (!out || !fgets(line, sizeof line, out) || sscanf(line, "READY %d %d", port, &silent) != 2) *port = 0;
    if (out) fclose(out); /* the server prints nothing after READY */
    return pid;
}

static void case_server_killed_mid_stream(void) {
    int port = 0;
    pid_t pid = spawn_server(&port);
    if (!CHECK_GT(pid, 0) || !CHECK_GT(port, 0)) {
        if (pid > 0) kill(pid, SIGKILL), waitpid(pid, NULL, 0);
        return;
    }
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/echo", port);
    task_rec *rec = rec_new("killed");
    int64_t id = CONNECT(url, rec, 1);
    bool open = id > 0 && WAIT_OPEN(rec);
    if (open) {
        CHECK_EQ(ws_send(id, (const uint8_t *)"ping", 4, WS_TEXT, NULL, NULL), WS_OK);
        WAIT_MESSAGES(rec, 1); /* the stream works before the kill */
    }
    CHECK_EQ(kill(pid, SIGKILL), 0);
    CHECK_EQ(waitpid(pid, NULL, 0), pid);
    if (!open) return;

    WAIT_CLOSE(rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_ERROR(rec, WS_ERR_IO, "onSocketError:fail");
    CHECK_CLOSE(rec, 1006, false, NULL);
    CHECK_EQ(rec_get(rec).messages, 1);
    CHECK_EQ(ws_ready_state(id), WS_CLOSED);
    result_box box = {0};
    CHECK_RESULT(&box, ws_send(id, (const uint8_t *)"x", 1, WS_TEXT, box_on_result, &box), WS_ERR_CLOSED,
                 "sendSocketMessage:fail");
}

/* A loopback port nothing listens on: bind an ephemeral port, then close it. */
static int unused_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

static void case_connection_refused(void) {
    int port = unused_port();
    if (!CHECK_GT(port, 0)) return;
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    task_rec *rec = rec_new("refused");
    int64_t id = CONNECT(url, rec, 1); /* the attempt starts: "connectSocket:ok" */
    if (id <= 0 || !WAIT_CLOSE(rec)) return;
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).opens, 0);
    CHECK_ERROR(rec, WS_ERR_CONNECT, "connectSocket:fail");
    CHECK_CLOSE(rec, 1006, false, "");
}

/* 5 connects (a full group) to the silent peer with timeout_ms 500: each fails with
 * WS_ERR_TIMEOUT and "timeout" in its errMsg, then close 1006; the 5 slots are free again. */
static void case_connect_timeout_frees_slots(void) {
    enum { N = 5 };
    const uint64_t group = 701;
    task_rec *rec[N];
    int64_t id[N];
    for (int i = 0; i < N; i++) {
        rec[i] = rec_new("timeout");
        result_box *box = calloc(1, sizeof *box);
        ws_connect_options o = rec_options(silent_url(), rec[i], box);
        o.group = group;
        o.timeout_ms = 500;
        id[i] = ws_connect(&o);
        CHECK_RESULT(box, id[i] > 0 ? WS_OK : id[i], WS_OK, "connectSocket:ok");
    }
    for (int i = 0; i < N; i++) {
        if (id[i] <= 0 || !WAIT_CLOSE(rec[i])) continue;
        CHECK_SEQUENCE(rec[i], id[i]);
        CHECK_EQ(rec_get(rec[i]).opens, 0);
        CHECK_ERROR(rec[i], WS_ERR_TIMEOUT, "connectSocket:fail");
        rec_event *e = rec_find(rec[i], WS_EVENT_ERROR, 0);
        if (e) CHECK_CONTAINS(e->err_msg, "timeout");
        CHECK_CLOSE(rec[i], 1006, false, NULL);
    }
    /* All 5 slots are free: a full group of working sockets fits. */
    for (int i = 0; i < N; i++) {
        rec[i] = rec_new("after timeout");
        id[i] = CONNECT(ws_url("/echo"), rec[i], group);
        if (id[i] > 0) WAIT_OPEN(rec[i]);
    }
    for (int i = 0; i < N; i++)
        if (id[i] > 0) CLOSE_AND_WAIT(id[i], rec[i]);
}

/* ws_close while CONNECTING aborts the attempt: "closeSocket:ok", close 1006 with no error event,
 * and the slot is free (the full group takes a new socket). */
static void case_close_while_connecting(void) {
    enum { N = 5 };
    const uint64_t group = 702;
    task_rec *rec[N];
    int64_t id[N];
    for (int i = 0; i < N; i++) {
        rec[i] = rec_new("connecting");
        id[i] = CONNECT(silent_url(), rec[i], group);
    }
    if (id[0] <= 0) return;
    CHECK_EQ(ws_ready_state(id[0]), WS_CONNECTING);
    result_box box = {0};
    CHECK_RESULT(&box, ws_close(id[0], 1000, "never mind", box_on_result, &box), WS_OK, "closeSocket:ok");
    if (WAIT_CLOSE(rec[0])) {
        CHECK_SEQUENCE(rec[0], id[0]);
        task_rec s = rec_get(rec[0]);
        CHECK_EQ(s.errors, 0);
        CHECK_EQ(s.opens, 0);
        CHECK_CLOSE(rec[0], 1006, false, NULL);
        CHECK_EQ(ws_ready_state(id[0]), WS_CLOSED);
    }
    task_rec *again = rec_new("in the freed slot");
    int64_t again_id = CONNECT(ws_url("/echo"), again, group);
    if (again_id > 0 && WAIT_OPEN(again)) CLOSE_AND_WAIT(again_id, again);
    for (int i = 1; i < N; i++) {
        if (id[i] <= 0) continue;
        CLOSE_AND_WAIT(id[i], rec[i]);
        CHECK_SEQUENCE(rec[i], id[i]);
        CHECK_EQ(rec_get(rec[i]).errors, 0);
    }
}

int main(void) {
    tests_begin("test_faults");
    RUN_CASE(case_server_killed_mid_stream);
    RUN_CASE(case_connection_refused);
    RUN_CASE(case_connect_timeout_frees_slots);
    RUN_CASE(case_close_while_connecting);
    return tests_end();
}
