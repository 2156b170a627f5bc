/* Host integration hooks: the socket hook sees each TCP socket before it connects (and can refuse
 * it), and the logger receives libws's diagnostics filtered by level, and nothing once removed.
 */
#include "common.h"

#include <sys/socket.h>

/* ---- socket hook ---- */

struct hook_seen {
    atomic_int calls;
    atomic_llong task_id;
    atomic_int fd;
    atomic_int sock_type;
    int refuse_with;
};

static int32_t on_socket(int64_t task_id, int32_t fd, void *user_data) {
    struct hook_seen *seen = user_data;
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) atomic_store(&seen->sock_type, type);
    int one = 1; /* what a host would do: set an option before connect */
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    atomic_store(&seen->task_id, task_id);
    atomic_store(&seen->fd, fd);
    atomic_fetch_add(&seen->calls, 1);
    return seen->refuse_with;
}

static void case_socket_hook_sees_fd_before_connect(void) {
    static struct hook_seen seen;
    task_rec *rec = rec_new("hook");
    result_box *box = new_box();
    ws_connect_options o = rec_options(ws_url("/echo"), rec, box);
    o.on_socket = on_socket;
    o.socket_user_data = &seen;
    int64_t id = ws_connect(&o);
    CHECK_GT(id, 0);
    if (!WAIT_OPEN(rec)) return;
    CHECK_EQ(atomic_load(&seen.calls), 1);
    CHECK_EQ(atomic_load(&seen.task_id), id);
    CHECK(atomic_load(&seen.fd) >= 0);
    CHECK_EQ(atomic_load(&seen.sock_type), SOCK_STREAM);
    CHECK_EQ(rec_get(rec).opens, 1);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
}

static void case_socket_hook_can_refuse(void) {
    static struct hook_seen seen = {.refuse_with = 5};
    task_rec *rec = rec_new("hook-refuse");
    ws_connect_options o = rec_options(ws_url("/echo"), rec, NULL);
    o.on_socket = on_socket;
    o.socket_user_data = &seen;
    int64_t id = ws_connect(&o);
    CHECK_GT(id, 0);
    if (!WAIT_CLOSE(rec)) return;
    CHECK_ERROR(rec, WS_ERR_CONNECT, "connectSocket:fail");
    rec_event *err = rec_find(rec, WS_EVENT_ERROR, 0);
    CHECK(err != NULL);
    if (err) CHECK_CONTAINS(err->err_msg, "refused the socket (5)");
    CHECK_CLOSE(rec, 1006, false, "");
    CHECK_EQ(ws_ready_state(id), WS_CLOSED);
    CHECK_SEQUENCE(rec, id);
}

/* ---- logger ---- */

#define MAX_LINES 256
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char *log_lines[MAX_LINES];
static int log_levels[MAX_LINES];
static int log_count;

static void on_log(int32_t level, const char *message, void *user_data) {
    (void)user_data;
    pthread_mutex_lock(&log_mu);
    if (log_count < MAX_LINES) {
        log_levels[log_count] = level;
        log_lines[log_count++] = strdup(message);
    }
    pthread_mutex_unlock(&log_mu);
}

/* Lines logged since `from` that contain `text`, and the highest level among all of them. */
static int log_find(int from, const char *text, int *max_level) {
    int found = 0;
    pthread_mutex_lock(&log_mu);
    for (int i = from; i < log_count; i++) {
        if (strstr(log_lines[i], text)) found++;
        if (max_level && log_levels[i] > *max_level) *max_level = log_levels[i];
    }
    pthread_mutex_unlock(&log_mu);
    return found;
}

static int log_mark(void) {
    pthread_mutex_lock(&log_mu);
    int n = log_count;
    pthread_mutex_unlock(&log_mu);
    return n;
}

static void open_and_close_one(const char *name) {
    task_rec *rec = rec_new(name);
    int64_t id = CONNECT(ws_url("/echo"), rec, 0);
    if (id > 0 && WAIT_OPEN(rec)) CLOSE_AND_WAIT(id, rec);
}

static void case_logger_levels(void) {
    CHECK_EQ(ws_set_logger(on_log, NULL, 5), WS_ERR_INVALID_ARGUMENT);
    CHECK_EQ(ws_set_logger(on_log, NULL, -1), WS_ERR_INVALID_ARGUMENT);

    CHECK_EQ(ws_set_logger(on_log, NULL, WS_LOG_INFO), WS_OK);
    int mark = log_mark();
    open_and_close_one("log-info");
    int max_level = 0;
    CHECK_GT(log_find(mark, " open", &max_level), 0);
    CHECK_GT(log_find(mark, "closed: code 1000", NULL), 0);
    CHECK_EQ(log_find(mark, "connecting to", NULL), 0); /* a debug line */
    CHECK(max_level <= WS_LOG_INFO);

    CHECK_EQ(ws_set_logger(on_log, NULL, WS_LOG_DEBUG), WS_OK);
    mark = log_mark();
    open_and_close_one("log-debug");
    CHECK_GT(log_find(mark, "connecting to 127.0.0.1", NULL), 0);

    CHECK_EQ(ws_set_logger(NULL, NULL, WS_LOG_DEBUG), WS_OK);
    mark = log_mark();
    open_and_close_one("log-off");
    CHECK_EQ(log_mark(), mark);
}

static void case_logger_reports_failures(void) {
    CHECK_EQ(ws_set_logger(on_log, NULL, WS_LOG_WARN), WS_OK);
    int mark = log_mark();
    task_rec *rec = rec_new("log-refused");
    int64_t id = CONNECT("ws://127.0.0.1:9/", rec, 0); /* the discard port: refused */
    if (id > 0) WAIT_CLOSE(rec);
    CHECK_GT(log_find(mark, "connectSocket:fail could not connect", NULL), 0);
    CHECK_EQ(ws_set_logger(NULL, NULL, 0), WS_OK);
}

/* A host name goes through the resolver threads (never the loop thread) and connects. */
static void case_host_name_resolves(void) {
    const char *base = env_or_die("WS_BASE"); /* ws://127.0.0.1:<port> */
    const char *port = strrchr(base, ':');
    if (!CHECK(port != NULL)) return;
    char url[96];
    snprintf(url, sizeof url, "ws://localhost%s/echo", port);
    task_rec *rec = rec_new("localhost");
    int64_t id = CONNECT(url, rec, 0);
    if (id > 0 && WAIT_OPEN(rec)) CLOSE_AND_WAIT(id, rec);
    CHECK_EQ(rec_get(rec).opens, 1);
    CHECK_SEQUENCE(rec, id);

    task_rec *bad = rec_new("no-such-host");
    id = CONNECT("ws://no-such-host.invalid/", bad, 0);
    if (id > 0 && WAIT_CLOSE(bad)) {
        CHECK_ERROR(bad, WS_ERR_DNS, "connectSocket:fail could not resolve host");
        CHECK_CLOSE(bad, 1006, false, "");
    }
}

int main(void) {
    tests_begin("test_host_hooks");
    RUN_CASE(case_socket_hook_sees_fd_before_connect);
    RUN_CASE(case_socket_hook_can_refuse);
    RUN_CASE(case_logger_levels);
    RUN_CASE(case_logger_reports_failures);
    RUN_CASE(case_host_name_resolves);
    return tests_end();
}
