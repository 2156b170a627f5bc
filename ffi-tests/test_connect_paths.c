/* Connecting on real mobile networks (issue 14): the host's own addresses for a task, and Happy
 * Eyeballs (RFC 8305) over them.
 *
 * A "black hole" is a listener on ::1 whose accept queue is full (backlog 0, one connection
 * nobody accepts): the kernel then drops further SYNs silently, as a broken IPv6 route does, and
 * a connect to it neither succeeds nor fails for minutes. main() checks that this kernel behaves
 * so before the cases rely on it. A "refused" port is one that was bound and closed again.
 */
#define _GNU_SOURCE /* SO_DOMAIN */
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

/* ---- loopback helpers ---- */

static int g_hole_port, g_refused_port, g_refused6_port;
static char g_ws_port[16]; /* the test server's port, as text */

/* Port of a socket we own. */
static int local_port(int fd) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0) return -1;
    return a.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port)
                                   : ntohs(((struct sockaddr_in *)&a)->sin_port);
}

static int bind_loopback(int family, int backlog) {
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int rc;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc != 0 || (backlog >= 0 && listen(fd, backlog) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Starts a non-blocking connect to [::1]:port; returns the fd. */
static int connect6(int port) {
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback, .sin6_port = htons(port)};
    connect(fd, (struct sockaddr *)&a, sizeof a);
    return fd;
}

/* Whether a non-blocking connect completes (either way) within ms. */
static bool connect_settles(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return poll(&p, 1, ms) == 1;
}

/* Makes the black hole: a ::1 listener with backlog 0 whose queue one unaccepted connection
 * fills. Returns false when this kernel answers further SYNs anyway. */
static bool make_black_hole(void) {
    int l = bind_loopback(AF_INET6, 0);
    if (l < 0) return false;
    g_hole_port = local_port(l);
    int filler = connect6(g_hole_port);
    if (!connect_settles(filler, 2000)) return false; /* the one the queue takes */
    int probe = connect6(g_hole_port);
    bool silent = !connect_settles(probe, 1500); /* the kernel drops its SYN: no answer */
    close(probe);
    return silent; /* l and filler stay open for the whole program */
}

static int refused_port(int family) {
    int fd = bind_loopback(family, -1);
    int port = local_port(fd);
    close(fd);
    return port;
}

static char *fmt(const char *f, ...) {
    char *s = malloc(256);
    if (!s) abort();
    va_list ap;
    va_start(ap, f);
    vsnprintf(s, 256, f, ap);
    va_end(ap);
    return s;
}

/* A URL whose host name resolves nowhere: a task that opens used the addresses it was given. */
static char *unresolvable_url(void) { return fmt("ws://libws-test.invalid:%s/echo", g_ws_port); }

/* ---- socket hook: records the family of every socket ---- */

struct hook_seen {
    atomic_int calls, v4, v6;
};

static int32_t on_socket(int64_t task_id, int32_t fd, void *user_data) {
    (void)task_id;
    struct hook_seen *seen = user_data;
    int domain = 0;
    socklen_t len = sizeof domain;
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
    atomic_fetch_add(domain == AF_INET6 ? &seen->v6 : &seen->v4, 1);
    atomic_fetch_add(&seen->calls, 1);
    return 0;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

/* Connects with the given addresses; returns the id. */
static int64_t connect_with(const char *url, const char *const *addrs, size_t n, task_rec *rec, result_box *box,
                            uint32_t timeout_ms, struct hook_seen *seen) {
    ws_connect_options o = rec_options(url, rec, box);
    o.timeout_ms = timeout_ms;
    o.addresses = addrs;
    o.address_count = n;
    if (seen) {
        o.on_socket = on_socket;
        o.socket_user_data = seen;
    }
    return ws_connect(&o);
}

/* The echo works on an open task. */
static void check_echo(int64_t id, task_rec *rec) {
    CHECK_EQ(ws_send(id, (const uint8_t *)"hi", 2, WS_TEXT, NULL, NULL), WS_OK);
    if (WAIT_MESSAGES(rec, 1)) CHECK_EQ(rec_find(rec, WS_EVENT_MESSAGE, 0)->len, 2);
}

/* ---- cases ---- */

/* The case: [::1]:hole first, then 127.0.0.1:server, with the default 60 s connect
 * timeout. Tried one after the other, the first attempt would hold the task for the whole 60 s
 * (the kernel retries the SYN for about two minutes); with Happy Eyeballs the second address is
 * tried 250 ms later and opens. Both sockets went through the hook. */
static void case_dead_ipv6_then_ipv4_opens(void) {
    static struct hook_seen seen;
    const char *addrs[] = {fmt("[::1]:%d", g_hole_port), fmt("127.0.0.1:%s", g_ws_port)};
    task_rec *rec = rec_new("dead v6, live v4");
    result_box *box = new_box();
    double t0 = now_ms();
    int64_t id = connect_with(unresolvable_url(), addrs, 2, rec, box, 0, &seen);
    CHECK_RESULT(box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok");
    if (!WAIT_OPEN(rec)) return;
    printf("    opened in %.0f ms (attempt delay 250 ms, connect timeout 60 s)\n", now_ms() - t0);
    CHECK_EQ(atomic_load(&seen.calls), 2);
    CHECK_EQ(atomic_load(&seen.v6), 1);
    CHECK_EQ(atomic_load(&seen.v4), 1);
    check_echo(id, rec);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
}

/* A failed attempt starts the next at once: with a 30 s attempt delay, a refused first address
 * still opens through the second within WAIT_MS. */
static void case_failure_starts_next_at_once(void) {
    ws_config c;
    ws_config_init(&c);
    CHECK_EQ(c.connection_attempt_delay_ms, 250);
    c.connection_attempt_delay_ms = 30000;
    runtime_with(&c);
    static struct hook_seen seen;
    const char *addrs[] = {fmt("127.0.0.1:%d", g_refused_port), fmt("127.0.0.1:%s", g_ws_port)};
    task_rec *rec = rec_new("refused, then live");
    int64_t id = connect_with(unresolvable_url(), addrs, 2, rec, NULL, 0, &seen);
    CHECK_GT(id, 0);
    if (WAIT_OPEN(rec)) CLOSE_AND_WAIT(id, rec);
    CHECK_EQ(atomic_load(&seen.calls), 2);
    runtime_with(NULL);
}

/* The attempt delay is the configured one: with 1500 ms, the dead first address is still alone
 * (the task CONNECTING, one socket made) after 500 ms, and the task opens after the delay. */
static void case_attempt_delay_is_configurable(void) {
    ws_config c;
    ws_config_init(&c);
    c.connection_attempt_delay_ms = 1500;
    runtime_with(&c);
    static struct hook_seen seen;
    const char *addrs[] = {fmt("[::1]:%d", g_hole_port), fmt("127.0.0.1:%s", g_ws_port)};
    task_rec *rec = rec_new("delay 1500");
    double t0 = now_ms();
    int64_t id = connect_with(unresolvable_url(), addrs, 2, rec, NULL, 0, &seen);
    CHECK_GT(id, 0);
    sleep_ms(500);
    CHECK_EQ(ws_ready_state(id), WS_CONNECTING);
    CHECK_EQ(atomic_load(&seen.calls), 1);
    if (WAIT_OPEN(rec)) {
        printf("    opened in %.0f ms (attempt delay 1500 ms)\n", now_ms() - t0);
        CLOSE_AND_WAIT(id, rec);
    }
    CHECK_EQ(atomic_load(&seen.calls), 2);
    runtime_with(NULL);
}

/* Every address refused: WS_ERR_CONNECT naming each address and its cause. */
static void case_all_refused_names_each_address(void) {
    const char *addrs[] = {fmt("127.0.0.1:%d", g_refused_port), fmt("[::1]:%d", g_refused6_port)};
    task_rec *rec = rec_new("all refused");
    int64_t id = connect_with(unresolvable_url(), addrs, 2, rec, NULL, 0, NULL);
    CHECK_GT(id, 0);
    if (!WAIT_CLOSE(rec)) return;
    CHECK_ERROR(rec, WS_ERR_CONNECT, "connectSocket:fail could not connect to ");
    rec_event *e = rec_find(rec, WS_EVENT_ERROR, 0);
    if (!e) return;
    char *want = fmt("127.0.0.1:%d: connection refused", g_refused_port);
    CHECK_CONTAINS(e->err_msg, want);
    want = fmt("[::1]:%d: connection refused", g_refused6_port);
    CHECK_CONTAINS(e->err_msg, want);
}

/* The connect timeout with one address silent and one refused: WS_ERR_TIMEOUT naming both. */
static void case_timeout_names_each_address(void) {
    const char *addrs[] = {fmt("[::1]:%d", g_hole_port), fmt("127.0.0.1:%d", g_refused_port)};
    task_rec *rec = rec_new("timeout");
    int64_t id = connect_with(unresolvable_url(), addrs, 2, rec, NULL, 1500, NULL);
    CHECK_GT(id, 0);
    if (!WAIT_CLOSE(rec)) return;
    CHECK_ERROR(rec, WS_ERR_TIMEOUT, "connectSocket:fail timeout: could not connect to ");
    rec_event *e = rec_find(rec, WS_EVENT_ERROR, 0);
    if (!e) return;
    CHECK_CONTAINS(e->err_msg, fmt("[::1]:%d: no answer", g_hole_port));
    CHECK_CONTAINS(e->err_msg, fmt("127.0.0.1:%d: connection refused", g_refused_port));
}

/* An address without a port takes the URL's; the URL's host is still the Host header (the
 * server echoes nothing of it, but the task opens although the name resolves nowhere). */
static void case_address_without_port(void) {
    const char *addrs[] = {"127.0.0.1"};
    task_rec *rec = rec_new("no port");
    int64_t id = connect_with(unresolvable_url(), addrs, 1, rec, NULL, 0, NULL);
    CHECK_GT(id, 0);
    if (WAIT_OPEN(rec)) CLOSE_AND_WAIT(id, rec);
}

static void case_bad_addresses_are_refused(void) {
    const char *bad[] = {"127.0.0.1", "example.com"};
    result_box *box = new_box();
    int64_t id = connect_with(unresolvable_url(), bad, 2, NULL, box, 0, NULL);
    CHECK_RESULT(box, id, WS_ERR_INVALID_ARGUMENT,
                 "connectSocket:fail addresses[1]: \"example.com\" is not an IP address");
    const char *null_entry[] = {NULL};
    box = new_box();
    id = connect_with(unresolvable_url(), null_entry, 1, NULL, box, 0, NULL);
    CHECK_RESULT(box, id, WS_ERR_INVALID_ARGUMENT, "connectSocket:fail addresses[0] is NULL");
    box = new_box();
    id = connect_with(unresolvable_url(), NULL, 3, NULL, box, 0, NULL);
    CHECK_RESULT(box, id, WS_ERR_INVALID_ARGUMENT, "connectSocket:fail");
    CHECK_BOXES_CALLED_ONCE();
}

/* ---- the host's resolver ---- */

static pthread_t g_main_thread;
static atomic_int g_resolver_calls, g_resolver_off_main, g_late_rc = 1, g_bad_rc = 1, g_now_rc = 1;
static atomic_llong g_never_id;
static char g_asked_host[64];
static atomic_int g_asked_port;

struct later {
    int64_t id;
};

static void *answer_later(void *arg) {
    struct later *l = arg;
    sleep_ms(300);
    const char *addrs[] = {fmt("[::1]:%d", g_hole_port), fmt("127.0.0.1:%s", g_ws_port)};
    atomic_store(&g_late_rc, ws_resolve_answer(l->id, addrs, 2, NULL));
    free(l);
    return NULL;
}

/* Acts by the host name's first label. */
static void resolver(int64_t request_id, const char *host, uint16_t port, void *user_data) {
    (void)user_data;
    atomic_fetch_add(&g_resolver_calls, 1);
    if (!pthread_equal(pthread_self(), g_main_thread)) atomic_fetch_add(&g_resolver_off_main, 1);
    pthread_mutex_lock(&g_mu);
    snprintf(g_asked_host, sizeof g_asked_host, "%s", host);
    pthread_mutex_unlock(&g_mu);
    atomic_store(&g_asked_port, port);
    if (strncmp(host, "now.", 4) == 0) {
        const char *addrs[] = {"127.0.0.1"};
        atomic_store(&g_now_rc, ws_resolve_answer(request_id, addrs, 1, NULL));
    } else if (strncmp(host, "later.", 6) == 0) {
        struct later *l = malloc(sizeof *l);
        l->id = request_id;
        pthread_t t;
        pthread_create(&t, NULL, answer_later, l);
        pthread_detach(t);
    } else if (strncmp(host, "error.", 6) == 0) {
        ws_resolve_answer(request_id, NULL, 0, "NXDOMAIN from the HTTP DNS service");
    } else if (strncmp(host, "bad.", 4) == 0) {
        const char *addrs[] = {"127.0.0.1", "not-an-ip"};
        atomic_store(&g_bad_rc, ws_resolve_answer(request_id, addrs, 2, NULL));
    } else {
        atomic_store(&g_never_id, request_id); /* never answered */
    }
}

static void init_with_resolver(void) {
    ws_config c;
    ws_config_init(&c);
    CHECK(c.resolver == NULL);
    c.resolver = resolver;
    runtime_with(&c);
}

static char *named_url(const char *name) { return fmt("ws://%s:%s/echo", name, g_ws_port); }

/* Answered from inside the callback, on the libws thread; the address has no port: the URL's. */
static void case_resolver_answers_at_once(void) {
    init_with_resolver();
    task_rec *rec = rec_new("resolver now");
    int64_t id = CONNECT(named_url("now.libws.test"), rec, 1);
    if (WAIT_OPEN(rec)) check_echo(id, rec), CLOSE_AND_WAIT(id, rec);
    CHECK_EQ(atomic_load(&g_now_rc), WS_OK);
    CHECK_EQ(atomic_load(&g_resolver_calls), 1);
    CHECK_EQ(atomic_load(&g_resolver_off_main), 1);
    pthread_mutex_lock(&g_mu);
    CHECK_STREQ(g_asked_host, "now.libws.test");
    pthread_mutex_unlock(&g_mu);
    CHECK_EQ(atomic_load(&g_asked_port), atoi(g_ws_port));
}

/* Answered 300 ms later from another thread, with a dead IPv6 address first: Happy Eyeballs
 * applies to the host's addresses too, within the default 60 s timeout. */
static void case_resolver_answers_later_from_another_thread(void) {
    task_rec *rec = rec_new("resolver later");
    int64_t id = CONNECT(named_url("later.libws.test"), rec, 1);
    if (WAIT_OPEN(rec)) CLOSE_AND_WAIT(id, rec);
    CHECK_EQ(atomic_load(&g_late_rc), WS_OK);
}

static void case_resolver_error(void) {
    task_rec *rec = rec_new("resolver error");
    CONNECT(named_url("error.libws.test"), rec, 1);
    if (!WAIT_CLOSE(rec)) return;
    CHECK_ERROR(rec, WS_ERR_DNS,
                "connectSocket:fail could not resolve host \"error.libws.test\": NXDOMAIN from the HTTP DNS service");
}

static void case_resolver_bad_answer(void) {
    task_rec *rec = rec_new("resolver bad answer");
    CONNECT(named_url("bad.libws.test"), rec, 1);
    if (!WAIT_CLOSE(rec)) return;
    CHECK_EQ(atomic_load(&g_bad_rc), WS_ERR_INVALID_ARGUMENT);
    CHECK_ERROR(rec, WS_ERR_DNS, "connectSocket:fail could not resolve host \"bad.libws.test\": the resolver's answer "
                                 "was refused: addresses[1]: \"not-an-ip\" is not an IP address");
}

/* Never answered: the connect timeout applies; a late answer then finds the task closed. */
static void case_resolver_never_answers(void) {
    task_rec *rec = rec_new("resolver never");
    result_box *box = new_box();
    ws_connect_options o = rec_options(named_url("never.libws.test"), rec, box);
    o.timeout_ms = 700;
    int64_t id = ws_connect(&o);
    CHECK_RESULT(box, id > 0 ? WS_OK : id, WS_OK, "connectSocket:ok");
    if (!WAIT_CLOSE(rec)) return;
    CHECK_ERROR(rec, WS_ERR_TIMEOUT, "connectSocket:fail timeout: no answer from the resolver for \"never.libws.test\"");
    CHECK_EQ(atomic_load(&g_never_id), id);
    const char *addrs[] = {"127.0.0.1"};
    CHECK_EQ(ws_resolve_answer(id, addrs, 1, NULL), WS_ERR_CLOSED);
    CHECK_EQ(ws_resolve_answer(INT64_MAX, addrs, 1, NULL), WS_ERR_UNKNOWN_TASK);
}

/* IP literals and per-task addresses are not the resolver's business. */
static void case_resolver_not_asked_for_ips(void) {
    int before = atomic_load(&g_resolver_calls);
    task_rec *rec = rec_new("ip literal");
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (WAIT_OPEN(rec)) CLOSE_AND_WAIT(id, rec);
    const char *addrs[] = {"127.0.0.1"};
    rec = rec_new("own addresses");
    id = connect_with(named_url("never.libws.test"), addrs, 1, rec, NULL, 0, NULL);
    if (WAIT_OPEN(rec)) CLOSE_AND_WAIT(id, rec);
    CHECK_EQ(atomic_load(&g_resolver_calls), before);
    runtime_with(NULL);
}

int main(void) {
    g_main_thread = pthread_self();
    tests_begin("test_connect_paths");
    const char *base = env_or_die("WS_BASE");
    snprintf(g_ws_port, sizeof g_ws_port, "%s", strrchr(base, ':') + 1);
    if (!make_black_hole()) {
        fprintf(stderr, "this kernel answers SYNs to a full ::1 listener: no black hole to test with\n");
        return 1;
    }
    g_refused_port = refused_port(AF_INET);
    g_refused6_port = refused_port(AF_INET6);
    RUN_CASE(case_dead_ipv6_then_ipv4_opens);
    RUN_CASE(case_failure_starts_next_at_once);
    RUN_CASE(case_attempt_delay_is_configurable);
    RUN_CASE(case_all_refused_names_each_address);
    RUN_CASE(case_timeout_names_each_address);
    RUN_CASE(case_address_without_port);
    RUN_CASE(case_bad_addresses_are_refused);
    RUN_CASE(case_resolver_answers_at_once);
    RUN_CASE(case_resolver_answers_later_from_another_thread);
    RUN_CASE(case_resolver_error);
    RUN_CASE(case_resolver_bad_answer);
    RUN_CASE(case_resolver_never_answers);
    RUN_CASE(case_resolver_not_asked_for_ips);
    return tests_end();
}
