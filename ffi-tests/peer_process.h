/* A peer process for a C test: a Python script of ffi-tests/ that prints "READY <port> [<port>]"
 * once it accepts connections and exits when its stdin closes (include after common.h).
 *
 * The script is found as ffi-tests/<name> from the repo root (run.sh's working directory), beside
 * $SERVER_PY, or in the working directory; Python is $PYTHON, else .venv/bin/python, else python3.
 */
#ifndef FFI_TESTS_PEER_PROCESS_H
#define FFI_TESTS_PEER_PROCESS_H

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

typedef struct peer_process {
    pid_t pid;
    int stdin_fd; /* the peer exits when this pipe closes */
    int ports[2]; /* from the READY line; 0 when not given */
    char ready[700]; /* the whole READY line, for peers that print more (a CA's path, say) */
} peer_process;

static inline const char *peer_first_readable(const char *const *paths, int n) {
    for (int i = 0; i < n; i++)
        if (paths[i][0] && access(paths[i], R_OK) == 0) return paths[i];
    return NULL;
}

/* Starts `python <script> 0 0` and reads its READY line. False (with a failed check) if not. */
static inline bool peer_start(peer_process *p, const char *name) {
    memset(p, 0, sizeof *p);
    p->stdin_fd = -1;
    char in_repo[256], beside_server[512] = "", here[256];
    snprintf(in_repo, sizeof in_repo, "ffi-tests/%s", name);
    snprintf(here, sizeof here, "%s", name);
    const char *server_py = getenv("SERVER_PY");
    const char *slash = server_py ? strrchr(server_py, '/') : NULL;
    if (slash) snprintf(beside_server, sizeof beside_server, "%.*s/%s", (int)(slash - server_py), server_py, name);
    const char *const scripts[] = {in_repo, beside_server, here};
    const char *script = peer_first_readable(scripts, 3);
    if (!check_report(script != NULL, __FILE__, __LINE__, "peer script %s found", name)) return false;
    const char *python = getenv("PYTHON");
    const char *const pythons[] = {".venv/bin/python", "../.venv/bin/python"};
    if (!python || !*python) python = peer_first_readable(pythons, 2);
    if (!python) python = "python3";

    int out[2], in[2];
    if (pipe(out) != 0) return false;
    if (pipe(in) != 0) {
        close(out[0]);
        close(out[1]);
        return false;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    posix_spawn_file_actions_addclose(&fa, in[0]);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    char *argv[] = {(char *)python, (char *)script, "0", "0", NULL};
    int rc = posix_spawnp(&p->pid, python, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(in[0]);
    if (!check_report(rc == 0, __FILE__, __LINE__, "start %s %s: %s", python, script, strerror(rc))) {
        close(out[0]);
        close(in[1]);
        p->pid = 0;
        return false;
    }
    p->stdin_fd = in[1];
    FILE *f = fdopen(out[0], "r");
    bool ok = f && fgets(p->ready, sizeof p->ready, f) &&
              sscanf(p->ready, "READY %d %d", &p->ports[0], &p->ports[1]) >= 1;
    if (f) fclose(f);
    else close(out[0]);
    return check_report(ok && p->ports[0] > 0, __FILE__, __LINE__, "%s prints READY <port> (got \"%s\")", name,
                        p->ready);
}

/* Closes the peer's stdin and gives it a second to exit by itself (so it can clean up, e.g.
 * remove its CA files), then ends it with SIGTERM. */
static inline void peer_stop(peer_process *p) {
    if (p->stdin_fd >= 0) close(p->stdin_fd);
    p->stdin_fd = -1;
    for (int i = 0; p->pid > 0 && i < 50; i++) {
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) p->pid = 0;
        else {
            struct timespec pause = {0, 20 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
    }
    p->pid = 0;
}

#endif /* FFI_TESTS_PEER_PROCESS_H */
