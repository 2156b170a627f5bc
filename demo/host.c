/* The libws demo host: what a mini-program host does for connectSocket, SocketTask.send and
 * SocketTask.close. It connects, sends one text and one binary message, prints every event and
 * errMsg, closes cleanly once both echoes are back, and exits 0 only if all of that happened.
 *
 *   host ws://127.0.0.1:8765/       (scripts/demo.sh starts a local echo server and runs this)
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "libws.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int echoes;
static int closed;
static int clean;

/* success/fail/complete of connect, send and close: one callback, called once per call. */
static void on_result(const ws_result *r, void *what) {
    printf("[result] %-7s task %lld: %s (code %d)\n", (const char *)what, (long long)r->task_id, r->err_msg, r->code);
}

static void on_event(const ws_event *e, void *user_data) {
    (void)user_data;
    static const uint8_t binary[] = {0xde, 0xad, 0xbe, 0xef};
    const char *text = "hello from libws";
    switch (e->kind) {
    case WS_EVENT_OPEN:
        printf("[open]    task %lld, protocol \"%s\", %zu response headers\n", (long long)e->task_id,
               e->open.protocol, e->open.header_count);
        for (size_t i = 0; i < e->open.header_count; i++)
            printf("          %s: %s\n", e->open.headers[i].name, e->open.headers[i].value);
        ws_send(e->task_id, (const uint8_t *)text, strlen(text), WS_TEXT, on_result, "send");
        ws_send(e->task_id, binary, sizeof binary, WS_BINARY, on_result, "send");
        break;
    case WS_EVENT_MESSAGE:
        if (e->message.kind == WS_TEXT) {
            printf("[message] text \"%.*s\"\n", (int)e->message.len, (const char *)e->message.data);
        } else {
            printf("[message] binary %zu bytes:", e->message.len);
            for (size_t i = 0; i < e->message.len; i++) printf(" %02x", e->message.data[i]);
            printf("\n");
        }
        pthread_mutex_lock(&lock);
        if (++echoes == 2) ws_close(e->task_id, 1000, "demo done", on_result, "close");
        pthread_mutex_unlock(&lock);
        break;
    case WS_EVENT_ERROR:
        printf("[error]   %s (code %d: %s)\n", e->error.err_msg, e->error.code, ws_strerror(e->error.code));
        break;
    case WS_EVENT_CLOSE:
        printf("[close]   code %u, reason \"%s\", clean %s\n", e->close.code, e->close.reason,
               e->close.was_clean ? "yes" : "no");
        pthread_mutex_lock(&lock);
        closed = 1;
        clean = e->close.was_clean && e->close.code == 1000;
        pthread_cond_signal(&changed);
        pthread_mutex_unlock(&lock);
        break;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s ws://host:port/path\n", argv[0]);
        return 2;
    }
    printf("libws %s, connecting to %s\n", ws_version(), argv[1]);
    ws_connect_options options;
    ws_connect_options_init(&options);
    options.url = argv[1];
    options.tcp_no_delay = true;
    options.timeout_ms = 10000;
    options.on_event = on_event;
    options.on_result = on_result;
    options.result_user_data = "connect";
    int64_t id = ws_connect(&options);
    if (id < 0) {
        fprintf(stderr, "ws_connect: %s\n", ws_strerror((int32_t)id));
        ws_shutdown();
        return 1;
    }

    /* Everything happens on the libws thread; wait (bounded) for the close event. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&lock);
    while (!closed && pthread_cond_timedwait(&changed, &lock, &until) == 0) {}
    int ok = closed && clean && echoes == 2;
    pthread_mutex_unlock(&lock);

    ws_shutdown();
    printf("%s\n", ok ? "demo: ok" : "demo: FAILED");
    return ok ? 0 : 1;
}
