/* ws_buffered_amount (issue 16, item 4): the bytes of messages ws_send accepted and not yet
 * written to the kernel.
 *
 *   - against a peer that stops reading after the handshake (peers_faults.py /stall): the amount
 *     grows to exactly the bytes of the sends still pending (not those written into the kernel's
 *     buffers, not those refused with WS_ERR_QUEUE_FULL); once the peer reads again every pending
 *     send succeeds and the amount is back to 0;
 *   - a send's bytes leave the amount before its result callback runs;
 *   - it never waits for the libws thread: while a callback holds that thread, another thread
 *     sends and sees its bytes counted at once;
 *   - 0 for a closed task, WS_ERR_UNKNOWN_TASK for an id never issued.
 *
 * Starts its own peer, ffi-tests/peers_faults.py ("READY <raw> <ws>").
 */
#include "common.h"
#include "peer_process.h"

#define MSG (1 << 20)      /* bytes per message */
#define SENDS 16           /* 16 MiB: more than the kernel's buffers take from a peer that does not read */
#define QUEUE (4 << 20)    /* max_send_queue: some sends are refused */

static peer_process g_peer;

static const char *raw_url(const char *path_fmt, const char *id) {
    char *url = malloc(320);
    if (!url) abort();
    char path[256];
    snprintf(path, sizeof path, path_fmt, id);
    snprintf(url, 320, "ws://127.0.0.1:%d%s", g_peer.ports[0], path);
    return url; /* leaked on purpose, like recorders */
}

static int count_called(result_box *boxes, int n, int code) {
    int count = 0;
    for (int i = 0; i < n; i++) {
        result_box b = box_get(&boxes[i]);
        count += b.calls > 0 && b.code == code;
    }
    return count;
}

static int count_pending(result_box *boxes, int n) {
    int count = 0;
    for (int i = 0; i < n; i++) count += box_get(&boxes[i]).calls == 0;
    return count;
}

/* Waits (bounded) until neither the amount nor the results change for 300 ms: the peer does not
 * read, so the kernel's buffers are full and the rest waits in libws. */
static bool wait_stalled(int64_t id, result_box *boxes, int n) {
    int64_t last = -1;
    int last_pending = -1, same = 0;
    for (int waited = 0; waited < WAIT_MS; waited += 100) {
        int64_t amount = ws_buffered_amount(id);
        int pending = count_pending(boxes, n);
        same = (amount == last && pending == last_pending) ? same + 1 : 0;
        if (same >= 3) return true;
        last = amount;
        last_pending = pending;
        sleep_ms(100);
    }
    return check_report(false, __FILE__, __LINE__, "the sends settled within %d ms", WAIT_MS);
}

static void case_grows_while_the_peer_does_not_read_and_returns_to_zero(void) {
    ws_config cfg;
    ws_config_init(&cfg);
    cfg.max_send_queue = QUEUE;
    if (!runtime_with(&cfg)) return;
    const char *rid = unique_id("buffered");
    task_rec *rec = rec_new("stalled peer");
    int64_t id = CONNECT(raw_url("/stall?id=%s", rid), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) {
        runtime_with(NULL);
        return;
    }
    CHECK_EQ(ws_buffered_amount(id), 0);
    uint8_t *buf = calloc(1, MSG);
    result_box *boxes = calloc(SENDS, sizeof *boxes);
    if (!buf || !boxes) abort();
    for (int i = 0; i < SENDS; i++) {
        memcpy(buf, &i, sizeof i);
        CHECK_EQ(ws_send(id, buf, MSG, WS_BINARY, box_on_result, &boxes[i]), WS_OK);
    }
    /* Accepted: at most every byte is counted right after the calls. */
    int64_t right_after = ws_buffered_amount(id);
    check_report(right_after >= 0 && right_after <= (int64_t)SENDS * MSG, __FILE__, __LINE__,
                 "0 <= amount right after the sends <= %d (got %lld)", SENDS * MSG, (long long)right_after);

    if (wait_stalled(id, boxes, SENDS)) {
        int64_t amount = ws_buffered_amount(id);
        int pending = count_pending(boxes, SENDS);
        int written = count_called(boxes, SENDS, WS_OK);
        int refused = count_called(boxes, SENDS, WS_ERR_QUEUE_FULL);
        printf("peer not reading: %d written to the kernel, %d pending, %d refused; amount %lld\n", written,
               pending, refused, (long long)amount);
        CHECK_GT(pending, 0);
        CHECK_GT(refused, 0);                      /* the queue bound was reached */
        CHECK_EQ(written + pending + refused, SENDS); /* no other outcome */
        /* Exactly the pending sends: not the ones in the kernel, not the refused ones. */
        CHECK_EQ(amount, (int64_t)pending * MSG);
    }

    /* The peer reads again: every pending send is written and the amount is back to 0. */
    task_rec *rel = rec_new("release");
    int64_t rel_id = CONNECT(raw_url("/release?id=%s", rid), rel, 2);
    if (rel_id > 0) WAIT_CLOSE(rel);
    for (int i = 0; i < SENDS; i++) {
        if (!check_report(wait_for(box_called, &boxes[i]), __FILE__, __LINE__,
                          "send #%d gets its result once the peer reads", i))
            break;
    }
    CHECK_EQ(count_called(boxes, SENDS, WS_OK) + count_called(boxes, SENDS, WS_ERR_QUEUE_FULL), SENDS);
    CHECK_EQ(ws_buffered_amount(id), 0);

    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    /* CLOSED: nothing more will be written. */
    CHECK_EQ(ws_buffered_amount(id), 0);
    free(buf);
    free(boxes);
    runtime_with(NULL);
}

/* A result callback that reports the amount it sees, then holds the libws thread until told. */
typedef struct {
    int64_t id;
    atomic_llong seen_inside; /* ws_buffered_amount inside the callback */
    atomic_bool entered, go;
} holder;

static void holding_result(const ws_result *r, void *user_data) {
    holder *h = user_data;
    (void)r;
    atomic_store(&h->seen_inside, ws_buffered_amount(h->id));
    atomic_store(&h->entered, true);
    for (int waited = 0; waited < WAIT_MS && !atomic_load(&h->go); waited += 5) sleep_ms(5);
}

static bool entered(void *arg) { return atomic_load(&((holder *)arg)->entered); }

typedef struct {
    int64_t id;
    result_box *box;
    int32_t send_rc;
    int64_t amount;
} other_thread;

static void *send_and_read(void *arg) {
    other_thread *t = arg;
    static uint8_t bytes[1000];
    t->send_rc = ws_send(t->id, bytes, sizeof bytes, WS_BINARY, box_on_result, t->box);
    t->amount = ws_buffered_amount(t->id);
    return NULL;
}

static void case_any_thread_without_waiting_for_the_loop(void) {
    task_rec *rec = rec_new("echo");
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    holder h = {.id = id};
    static const char first[] = "first";
    CHECK_EQ(ws_send(id, (const uint8_t *)first, sizeof first - 1, WS_TEXT, holding_result, &h), WS_OK);
    if (CHECK(wait_for(entered, &h))) {
        /* The send is written: its bytes were taken off before its callback ran. */
        CHECK_EQ(atomic_load(&h.seen_inside), 0);
        /* The libws thread is held in that callback; another thread sends and reads the amount. */
        result_box box = {0};
        other_thread t = {.id = id, .box = &box};
        pthread_t thread;
        CHECK_EQ(pthread_create(&thread, NULL, send_and_read, &t), 0);
        pthread_join(thread, NULL);
        CHECK_EQ(t.send_rc, WS_OK);
        CHECK_EQ(t.amount, 1000);
        CHECK_EQ(ws_buffered_amount(id), 1000);
        CHECK_EQ(box_get(&box).calls, 0); /* the libws thread is still held */
        atomic_store(&h.go, true);
        if (CHECK(wait_for(box_called, &box))) CHECK_EQ(box_get(&box).code, WS_OK);
        CHECK_EQ(ws_buffered_amount(id), 0);
    }
    atomic_store(&h.go, true);
    CLOSE_AND_WAIT(id, rec);
    CHECK_EQ(ws_buffered_amount(id), 0);
}

static void case_unknown_ids(void) {
    CHECK_EQ(ws_buffered_amount(0), WS_ERR_UNKNOWN_TASK);
    CHECK_EQ(ws_buffered_amount(-3), WS_ERR_UNKNOWN_TASK);
    CHECK_EQ(ws_buffered_amount(INT64_MAX), WS_ERR_UNKNOWN_TASK);
}

int main(void) {
    tests_begin("test_buffered");
    if (!peer_start(&g_peer, "peers_faults.py")) return tests_end();
    RUN_CASE(case_unknown_ids);
    RUN_CASE(case_any_thread_without_waiting_for_the_loop);
    RUN_CASE(case_grows_while_the_peer_does_not_read_and_returns_to_zero);
    peer_stop(&g_peer);
    ws_shutdown();
    return tests_end();
}
