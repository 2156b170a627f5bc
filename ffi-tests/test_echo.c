/* Echo: text and binary messages of every frame-length class (0, 1, 125, 126, 65535, 65536 bytes
 * and 16 MiB) go out and come back byte for byte, with their kind, in order; every send result
 * is "sendSocketMessage:ok" exactly once.
 */
#include "common.h"

#define MIB (1024u * 1024u)

static const size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 16 * MIB};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static uint32_t next_random(uint32_t *state) {
    /* xorshift32: deterministic payloads that differ per message */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* Binary: any byte (0x00 and 0xff included). Text: ASCII letters with a 3-byte UTF-8 character
 * ("中", E4 B8 AD) now and then, so multi-byte text must survive too; always valid UTF-8. */
static uint8_t *make_payload(size_t len, uint32_t kind, uint32_t seed) {
    uint8_t *p = malloc(len ? len : 1);
    if (!p) abort();
    uint32_t state = seed * 2654435761u + 1;
    for (size_t i = 0; i < len;) {
        uint32_t r = next_random(&state);
        if (kind == WS_BINARY) {
            p[i++] = (uint8_t)(r >> 8);
        } else if (r % 97 == 0 && i + 3 <= len) {
            p[i++] = 0xE4;
            p[i++] = 0xB8;
            p[i++] = 0xAD;
        } else {
            p[i++] = (uint8_t)('a' + r % 26);
        }
    }
    return p;
}

/* Every size in both kinds on one socket, interleaved (T0 B0 T1 B1 ...), so kinds and order are
 * checked per message. Sizes 0 are sent with data == NULL for text (allowed when len is 0). */
static void case_echo_every_size_and_kind(void) {
    enum { N = 2 * NSIZES };
    task_rec *rec = rec_new("echo");
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    CHECK_EQ(ws_ready_state(id), WS_OPEN);

    uint8_t *payload[N];
    size_t len[N];
    uint32_t kind[N];
    result_box sent[N];
    memset(sent, 0, sizeof sent);
    for (int i = 0; i < N; i++) {
        len[i] = sizes[i / 2];
        kind[i] = i % 2 == 0 ? WS_TEXT : WS_BINARY;
        payload[i] = make_payload(len[i], kind[i], (uint32_t)i + 7);
        const uint8_t *data = (len[i] == 0 && kind[i] == WS_TEXT) ? NULL : payload[i];
        int32_t rc = ws_send(id, data, len[i], kind[i], box_on_result, &sent[i]);
        if (!CHECK_EQ(rc, WS_OK)) fprintf(stderr, "  message %d (%zu bytes): %s\n", i, len[i], ws_strerror(rc));
    }

    /* 2 x 16 MiB through a Python echo: allow more than the usual wait. */
    rec_count_arg want = {rec, N};
    wait_for_ms(rec_has_messages, &want, 6 * WAIT_MS);
    CHECK_EQ(rec_get(rec).messages, N);

    for (int i = 0; i < N; i++) {
        result_box b = box_get(&sent[i]);
        if (!CHECK_EQ(b.code, WS_OK) || !CHECK_STREQ(b.err_msg, "sendSocketMessage:ok"))
            fprintf(stderr, "  send %d (%zu bytes, kind %u)\n", i, len[i], kind[i]);
        CHECK_EQ(b.task_id, id);
        rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, i);
        if (!m) continue;
        bool same = m->len == len[i] && m->msg_kind == kind[i] && (len[i] == 0 || memcmp(m->data, payload[i], len[i]) == 0);
        if (!CHECK(same))
            fprintf(stderr, "  echo %d: sent %zu bytes kind %u, got %zu bytes kind %u\n", i, len[i], kind[i], m->len,
                    m->msg_kind);
    }

    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_CLOSE(rec, 1000, true, "done");
    CHECK_EQ(ws_ready_state(id), WS_CLOSED);
    /* Exactly once: nothing more may arrive for a closed task. */
    for (int i = 0; i < N; i++) {
        CHECK_EQ(box_get(&sent[i]).calls, 1);
        free(payload[i]);
    }
}

/* The open event of a plain connect: no subprotocol (""), and the 101 response's headers. */
static void case_open_event_without_protocol(void) {
    task_rec *rec = rec_new("plain");
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    rec_event *open = rec_find(rec, WS_EVENT_OPEN, 0);
    CHECK_STREQ(open->protocol, "");
    CHECK_GT(open->header_count, 0);
    const char *upgrade = open_header(open, "Upgrade");
    CHECK(upgrade && strcasecmp(upgrade, "websocket") == 0);
    CHECK(open_header(open, "Sec-WebSocket-Accept") != NULL);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
}

/* Many small messages back to back keep their order. */
static void case_echo_order_of_many(void) {
    enum { N = 1000 };
    task_rec *rec = rec_new("order");
    int64_t id = CONNECT(ws_url("/echo"), rec, 1);
    if (id <= 0 || !WAIT_OPEN(rec)) return;
    for (int i = 0; i < N; i++) {
        char text[32];
        int n = snprintf(text, sizeof text, "msg %d", i);
        if (!CHECK_EQ(ws_send(id, (const uint8_t *)text, (size_t)n, WS_TEXT, NULL, NULL), WS_OK)) break;
    }
    WAIT_MESSAGES(rec, N);
    int out_of_order = 0;
    for (int i = 0; i < N; i++) {
        char text[32];
        int n = snprintf(text, sizeof text, "msg %d", i);
        rec_event *m = rec_find(rec, WS_EVENT_MESSAGE, i);
        if (!m || m->len != (size_t)n || memcmp(m->data, text, (size_t)n) != 0 || m->msg_kind != WS_TEXT)
            out_of_order++;
    }
    CHECK_EQ(out_of_order, 0);
    CLOSE_AND_WAIT(id, rec);
    CHECK_SEQUENCE(rec, id);
    CHECK_EQ(rec_get(rec).messages, N);
}

int main(void) {
    tests_begin("test_echo");
    RUN_CASE(case_echo_every_size_and_kind);
    RUN_CASE(case_open_event_without_protocol);
    RUN_CASE(case_echo_order_of_many);
    return tests_end();
}
