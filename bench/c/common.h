/* Shared by the C drivers: the message pattern (the same bytes as bench/src/lib.rs), the
 * arguments every client takes, the RESULT line, clocks, rusage, RSS, percentiles. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>

typedef struct {
    const char *mode;  /* latency | throughput | idle */
    const char *url;
    const char *path;  /* libws: cb | thread */
    const char *ca;    /* CA PEM file for wss:// */
    size_t size;
    int conns;
    uint64_t count;
    uint64_t warmup;
    uint64_t window;
    int timeout_s;
    double idle_secs;  /* idle mode: how long to watch CPU */
    int resume;        /* open mode, wss://: keep TLS sessions across the connections */
} bench_args;

__attribute__((unused)) static void die(const char *msg) {
    fprintf(stderr, "error: %s\n", msg);
    fflush(stderr);
    _exit(2);
}

__attribute__((unused)) static void parse_args(int argc, char **argv, bench_args *a) {
    a->mode = "latency"; a->url = NULL; a->path = "cb"; a->ca = NULL;
    a->size = 32; a->conns = 1; a->count = 1000; a->warmup = 100; a->window = 64;
    a->timeout_s = 120; a->idle_secs = 2.0; a->resume = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--mode")) a->mode = v;
        else if (!strcmp(k, "--url")) a->url = v;
        else if (!strcmp(k, "--path")) a->path = v;
        else if (!strcmp(k, "--ca")) a->ca = v;
        else if (!strcmp(k, "--size")) a->size = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--conns")) a->conns = atoi(v);
        else if (!strcmp(k, "--count")) a->count = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--warmup")) a->warmup = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--window")) a->window = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--timeout")) a->timeout_s = atoi(v);
        else if (!strcmp(k, "--idle-secs")) a->idle_secs = atof(v);
        else if (!strcmp(k, "--resume")) a->resume = atoi(v);
        else if (!strcmp(k, "--client")) {}
        else { fprintf(stderr, "unknown argument %s\n", k); exit(2); }
    }
    if (!a->url) die("--url is required");
    if (a->size < 8) die("messages carry an 8-byte sequence number: --size >= 8");
    if (a->conns < 1) die("--conns >= 1");
}

/* xorshift64*, as pattern_bytes() in bench/src/lib.rs. */
__attribute__((unused)) static uint8_t *pattern_bytes(size_t size) {
    uint8_t *p = malloc(size ? size : 1);
    if (!p) die("out of memory");
    uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)size;
    for (size_t i = 0; i < size; i++) {
        x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
        p[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
    return p;
}

__attribute__((unused)) static void pattern_fill(const uint8_t *base, size_t size, uint64_t seq, uint8_t *out) {
    memcpy(out, base, size);
    memcpy(out, &seq, 8); /* little endian on every target we run */
}

/* Checks a whole echo of message seq: 0 when good. */
__attribute__((unused)) static int pattern_check(const uint8_t *base, size_t size, uint64_t seq, const uint8_t *data, size_t len) {
    uint64_t got;
    if (len != size) return -1;
    memcpy(&got, data, 8);
    if (got != seq) return -2;
    if (memcmp(data + 8, base + 8, size - 8)) return -3;
    return 0;
}

/* Checks one fragment [off, off+len) of the echo of message seq. */
__attribute__((unused)) static int pattern_check_part(const uint8_t *base, size_t size, uint64_t seq, size_t off, const uint8_t *data, size_t len) {
    if (off + len > size) return -1;
    uint8_t stamp[8];
    memcpy(stamp, &seq, 8);
    size_t i = 0;
    for (; i < len && off + i < 8; i++)
        if (data[i] != stamp[off + i]) return -2;
    if (i < len && memcmp(data + i, base + off + i, len - i)) return -3;
    return 0;
}

__attribute__((unused)) static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

__attribute__((unused)) static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

__attribute__((unused)) static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

__attribute__((unused)) static long raise_nofile(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

__attribute__((unused)) static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of v (sorted in place). */
__attribute__((unused)) static double percentile(double *v, size_t n, double q) {
    if (!n) return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t rank = (size_t)(q * n + 0.999999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

__attribute__((unused)) static void print_latency(double *samples_us, size_t n, double cpu) {
    double p50 = percentile(samples_us, n, 0.50), p99 = percentile(samples_us, n, 0.99);
    printf("RESULT ok=1 msgs=%zu p50_us=%.2f p99_us=%.2f cpu_us_per_msg=%.3f\n", n, p50, p99, cpu * 1e6 / (n ? n : 1));
    fflush(stdout);
}

/* Time to open: µs from starting each connect to its open (sorted in place). */
__attribute__((unused)) static void print_open(double *samples_us, size_t n) {
    double p50 = percentile(samples_us, n, 0.50), p90 = percentile(samples_us, n, 0.90);
    printf("RESULT ok=1 conns=%zu p50_us=%.2f p90_us=%.2f\n", n, p50, p90);
    fflush(stdout);
}

__attribute__((unused)) static void print_throughput(uint64_t msgs, size_t size, double secs, double cpu) {
    printf("RESULT ok=1 msgs=%llu secs=%.6f msgs_per_s=%.1f mb_per_s=%.2f cpu_us_per_msg=%.3f\n",
           (unsigned long long)msgs, secs, msgs / secs, msgs * (double)size / secs / 1e6, cpu * 1e6 / (msgs ? msgs : 1));
    fflush(stdout);
}

__attribute__((unused)) static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "error: timed out\n";
    if (write(2, msg, sizeof msg - 1) < 0) {}
    _exit(3);
}

__attribute__((unused)) static void watchdog(int secs) {
    signal(SIGALRM, on_alarm);
    alarm(secs);
}

/* Reads a whole file (the CA PEM, the corpus). */
__attribute__((unused)) static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open a file (the CA or the corpus)");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n + 1);
    if (fread(buf, 1, n, f) != (size_t)n) die("cannot read a file (the CA or the corpus)");
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

#endif
