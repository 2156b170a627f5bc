/* Autobahn|Testsuite client driver over the libws C API.
 *
 *   autobahn_client <agent> <base-url>...   e.g. autobahn_client libws ws://127.0.0.1:9001
 *
 * Speaks the fuzzing server's client protocol: read the case count from /getCaseCount, run every
 * case by echoing each message back with its own type until the server closes, then ask the
 * server to write its reports with /updateReports. Every connection offers permessage-deflate
 * (`per_message_deflate`, as browsers always do): the fuzzing server accepts it only in cases 12.*
 * and 13.*, so cases 1-10 check that the offer alone changes nothing.
 *
 * With several base URLs (fuzzing servers with the same spec, one per core: the Python server's
 * CPU is what bounds the time of cases 12 and 13) the cases are shared out among them, each case
 * run once on one of them. Prints one line per case with its server, time and the extensions the
 * server agreed to; exits 0 when every connection reached its close event (the verdicts are in
 * the servers' reports).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef CASE_SECONDS
#define CASE_SECONDS 120
#endif

#include "libws.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;

struct run {
    int done;
    int echo;            /* echo messages back (cases) or just keep the first text (case count) */
    char first_text[64];
    int compressed;
    char extensions[128];
    unsigned close_code;
    int clean;
    char error[256];
};

static void on_event(const ws_event *e, void *user_data) {
    struct run *run = user_data;
    switch (e->kind) {
    case WS_EVENT_OPEN:
        run->compressed = e->open.compressed;
        snprintf(run->extensions, sizeof run->extensions, "%s",
                 e->open.extensions ? e->open.extensions : "");
        break;
    case WS_EVENT_MESSAGE:
        if (run->echo) {
            ws_send(e->task_id, e->message.data, e->message.len, e->message.kind, NULL, NULL);
        } else if (!run->first_text[0] && e->message.kind == WS_TEXT) {
            size_t n = e->message.len < sizeof run->first_text - 1 ? e->message.len : sizeof run->first_text - 1;
            memcpy(run->first_text, e->message.data, n);
            run->first_text[n] = 0;
        }
        break;
    case WS_EVENT_ERROR:
        snprintf(run->error, sizeof run->error, "%s", e->error.err_msg);
        break;
    case WS_EVENT_CLOSE:
        pthread_mutex_lock(&lock);
        run->close_code = e->close.code;
        run->clean = e->close.was_clean;
        run->done = 1;
        pthread_cond_broadcast(&done_cond);
        pthread_mutex_unlock(&lock);
        break;
    default:
        break;
    }
}

/* Connects to url, runs until the close event (or `seconds`), returns 0 if the close came. */
static int run_url(const char *url, struct run *run, int seconds) {
    ws_connect_options o;
    ws_connect_options_init(&o);
    o.url = url;
    o.on_event = on_event;
    o.event_user_data = run;
    o.tcp_no_delay = true;
    o.per_message_deflate = true;
    int64_t id = ws_connect(&o);
    if (id < 0) {
        fprintf(stderr, "ws_connect(%s): %s\n", url, ws_strerror((int32_t)id));
        return -1;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&lock);
    while (!run->done && pthread_cond_timedwait(&done_cond, &lock, &until) == 0) {}
    int done = run->done;
    pthread_mutex_unlock(&lock);
    if (!done) {
        /* Close it and wait for its close event (bounded by the close timeout): `run` must
         * outlive the task's events. */
        fprintf(stderr, "%s: no close event within %d s\n", url, seconds);
        ws_close(id, 1000, NULL, NULL, NULL);
        until.tv_sec += 30;
        pthread_mutex_lock(&lock);
        while (!run->done && pthread_cond_timedwait(&done_cond, &lock, &until) == 0) {}
        pthread_mutex_unlock(&lock);
        return -1;
    }
    return 0;
}

/* The cases are shared out over one worker thread per fuzzing server: each takes the next case
 * number not yet taken, runs it on its own server, and at the end asks its server for its
 * reports (each server's report holds the cases it ran). */
static const char *agent;
static int case_count, next_case = 1, failures;

static void *worker(void *arg) {
    const char *base = arg;
    char url[1024];
    for (;;) {
        pthread_mutex_lock(&lock);
        int i = next_case <= case_count ? next_case++ : 0;
        pthread_mutex_unlock(&lock);
        if (!i) break;
        struct run run = {0};
        run.echo = 1;
        snprintf(url, sizeof url, "%s/runCase?case=%d&agent=%s", base, i, agent);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = run_url(url, &run, CASE_SECONDS);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        pthread_mutex_lock(&lock);
        failures += rc != 0;
        printf("case %d: %s, %.0f ms, close %u%s%s%s%s%s\n", i, base, ms, run.close_code,
               run.clean ? " clean" : " not clean", run.compressed ? ", compressed: " : "",
               run.compressed ? run.extensions : "", run.error[0] ? ", error: " : "", run.error);
        fflush(stdout);
        pthread_mutex_unlock(&lock);
    }

    struct run report_run = {0};
    snprintf(url, sizeof url, "%s/updateReports?agent=%s", base, agent);
    if (run_url(url, &report_run, 60) != 0) {
        fprintf(stderr, "updateReports failed on %s\n", base);
        pthread_mutex_lock(&lock);
        failures++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s <agent> <base-url>...\n", argv[0]);
        return 2;
    }
    agent = argv[1];
    int servers = argc - 2;
    char url[1024];

    struct run count_run = {0};
    snprintf(url, sizeof url, "%s/getCaseCount", argv[2]);
    if (run_url(url, &count_run, 30) != 0 || !count_run.first_text[0]) {
        fprintf(stderr, "could not read the case count from %s\n", url);
        return 1;
    }
    case_count = atoi(count_run.first_text);
    printf("%d cases on %d server%s\n", case_count, servers, servers == 1 ? "" : "s");
    fflush(stdout);

    pthread_t threads[64];
    if (servers > 64) servers = 64;
    for (int k = 0; k < servers; k++) {
        if (pthread_create(&threads[k], NULL, worker, argv[2 + k]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (int k = 0; k < servers; k++) pthread_join(threads[k], NULL);
    ws_shutdown();
    return failures ? 1 : 0;
}
