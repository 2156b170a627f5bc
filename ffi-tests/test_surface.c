/* The C surface (issue 11, "from a review of the C surface"):
 *
 *   - ws_close_group leaves every OPEN task of the group CLOSING when it returns, as ws_close does
 *     one task: ws_ready_state says WS_CLOSING and ws_send is refused with WS_ERR_NOT_OPEN at once,
 *     also when it runs inside a callback (the libws thread cannot have handled the close yet).
 */
#include "common.h"

enum { GROUP_SIZE = 3 };

typedef struct group {
    uint64_t id;
    task_rec *rec[GROUP_SIZE];
    int64_t task[GROUP_SIZE];
} group;

static uint64_t g_next_group = 7100;

/* GROUP_SIZE tasks of a new group, each open on the echo server. */
static bool open_group(group *g) {
    g->id = g_next_group++;
    bool ok = true;
    for (int i = 0; i < GROUP_SIZE; i++) {
        g->rec[i] = rec_new("group member");
        g->task[i] = CONNECT(ws_url("/echo"), g->rec[i], g->id);
        ok &= g->task[i] > 0 && WAIT_OPEN(g->rec[i]);
    }
    return ok;
}

/* After the group's close: each task gets the close frame's code and reason, in order. */
static void check_group_closed(group *g, int code, const char *reason) {
    for (int i = 0; i < GROUP_SIZE; i++) {
        if (!WAIT_CLOSE(g->rec[i])) continue;
        CHECK_SEQUENCE(g->rec[i], g->task[i]);
        CHECK_CLOSE(g->rec[i], code, true, reason);
    }
}

static void case_close_group_is_closing_on_return(void) {
    group g;
    if (!open_group(&g)) return;
    result_box *closed = new_box();
    int32_t rc = ws_close_group(g.id, 4100, "group", box_on_result, closed);
    int32_t state[GROUP_SIZE], sent[GROUP_SIZE];
    result_box *send_box[GROUP_SIZE];
    for (int i = 0; i < GROUP_SIZE; i++) {
        state[i] = ws_ready_state(g.task[i]);
        send_box[i] = new_box();
        sent[i] = ws_send(g.task[i], (const uint8_t *)"late", 4, WS_TEXT, box_on_result, send_box[i]);
    }
    CHECK_RESULT(closed, rc, WS_OK, "closeSocket:ok");
    for (int i = 0; i < GROUP_SIZE; i++) {
        CHECK_EQ(state[i], WS_CLOSING);
        CHECK_RESULT(send_box[i], sent[i], WS_ERR_NOT_OPEN, "sendSocketMessage:fail socket is not OPEN");
    }
    check_group_closed(&g, 4100, "group");
    CHECK_BOXES_CALLED_ONCE();
}

/* The same from a result callback: the libws thread is busy running it, so nothing but
 * ws_close_group itself can have made the tasks CLOSING. */
typedef struct in_callback {
    group *g;
    int32_t rc, state[GROUP_SIZE], sent[GROUP_SIZE];
    bool done;
} in_callback;

static void close_group_in_callback(const ws_result *r, void *user_data) {
    (void)r;
    in_callback *c = user_data;
    int32_t rc = ws_close_group(c->g->id, 4101, "from a callback", NULL, NULL);
    int32_t state[GROUP_SIZE], sent[GROUP_SIZE];
    for (int i = 0; i < GROUP_SIZE; i++) {
        state[i] = ws_ready_state(c->g->task[i]);
        sent[i] = ws_send(c->g->task[i], (const uint8_t *)"late", 4, WS_TEXT, NULL, NULL);
    }
    pthread_mutex_lock(&g_mu);
    c->rc = rc;
    memcpy(c->state, state, sizeof state);
    memcpy(c->sent, sent, sizeof sent);
    c->done = true;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static bool in_callback_done(void *arg) { return ((in_callback *)arg)->done; }

static void case_close_group_in_a_callback_is_closing_on_return(void) {
    group g;
    if (!open_group(&g)) return;
    in_callback c = {.g = &g};
    /* Any result callback will do: this one reports an unknown task. */
    CHECK_EQ(ws_close(INT64_MAX, 1000, NULL, close_group_in_callback, &c), WS_ERR_UNKNOWN_TASK);
    if (!CHECK(wait_for(in_callback_done, &c))) return;
    CHECK_EQ(c.rc, WS_OK);
    for (int i = 0; i < GROUP_SIZE; i++) {
        CHECK_EQ(c.state[i], WS_CLOSING);
        CHECK_EQ(c.sent[i], WS_ERR_NOT_OPEN);
    }
    check_group_closed(&g, 4101, "from a callback");
}

int main(void) {
    tests_begin("test_surface");
    RUN_CASE(case_close_group_is_closing_on_return);
    RUN_CASE(case_close_group_in_a_callback_is_closing_on_return);
    return tests_end();
}
