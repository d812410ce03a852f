/* exec.c — health probe "exec": runs a local command; exit status 0 passes.
 *
 * Spec members: "command" (required): a string split on blanks into argv (no shell, no quoting),
 * or a JSON array of strings (it arrives as its JSON text "[...]"). argv[0] is looked up in PATH.
 * Whether exec probes may be used at all is the host's decision (docs/api.md), not this file's.
 *
 * The child is started with posix_spawnp(): stdin/stdout/stderr on /dev/null, no inherited
 * descriptors beyond those, signal mask and dispositions reset, an environment of PATH only (the
 * host's environment may hold tokens), and its own process group so that a timeout kills the
 * whole group. No SIGCHLD handler: the exit is watched through a pidfd on the loop (Linux 5.3+),
 * or, where pidfd_open() is unavailable, by polling waitpid(WNOHANG) with a backoff. The deadline
 * is the host's (cp/probe.h): a child still running when the host releases the check (deadline,
 * probe stopped) is killed with its group and handed to a reaper timer, so no zombie is ever
 * left behind; destroy() kills and waits for the stragglers.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include <cp/probe.h>
#include <cp/time.h>

#define EXEC_MAX_ARGS 256
#define EXEC_POLL_MAX_MS 50
#define EXEC_REAP_MS 10

struct exec_orphan {
    pid_t pid;
    struct exec_orphan *next;
};

struct exec_state {
    const struct cp_host *host;
    struct exec_orphan *orphans; /* killed children not reaped yet */
    struct event *reaper;        /* polls the orphans while there are any */
};

/* One check: its child and where to report. Freed by exec_release() only. */
struct exec_check {
    struct exec_state *st;
    pid_t pid;             /* 0 once reaped (or never started) */
    int pidfd;             /* -1 when polling */
    struct event *exit_ev; /* pidfd readable, or the poll timer */
    int poll_ms;
    cp_probe_done_cb done;
    void *cookie;
};

static void exec_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* A NULL-terminated argv the caller frees with exec_argv_free(), or NULL with msg set. */
static char **exec_parse(const char *cmd, char *msg, size_t len)
{
    static const char *const syntax =
        "health_probe.command must be a command string or a JSON array of strings";
    if (!cmd || !*cmd) {
        snprintf(msg, len, "health_probe.command is required");
        return NULL;
    }
    json_object *arr = NULL;
    char **argv = calloc(EXEC_MAX_ARGS + 1, sizeof(*argv));
    if (!argv) goto nomem;
    size_t n = 0;
    const char *p = cmd + strspn(cmd, " \t\r\n");
    if (*p == '[') arr = json_tokener_parse(p);
    if (arr && json_object_is_type(arr, json_type_array)) {
        size_t count = json_object_array_length(arr);
        if (count > EXEC_MAX_ARGS) goto too_many;
        for (; n < count; n++) {
            json_object *s = json_object_array_get_idx(arr, n);
            if (!json_object_is_type(s, json_type_string) ||
                strlen(json_object_get_string(s)) != (size_t)json_object_get_string_len(s))
                goto bad; /* not a string, or a string with an embedded NUL */
            if (!(argv[n] = strdup(json_object_get_string(s)))) goto nomem;
        }
    } else {
        /* A plain string, also one that merely starts with '[' (e.g. "[ -f /run/ok ]"). */
        char *copy = strdup(cmd), *save = NULL;
        if (!copy) goto nomem;
        for (char *tok = strtok_r(copy, " \t\r\n\v\f", &save); tok;
             tok = strtok_r(NULL, " \t\r\n\v\f", &save)) {
            if (n == EXEC_MAX_ARGS || !(argv[n] = strdup(tok))) {
                free(copy);
                if (n == EXEC_MAX_ARGS) goto too_many;
                goto nomem;
            }
            n++;
        }
        free(copy);
    }
    if (n == 0 || !argv[0][0]) goto bad;
    if (arr) json_object_put(arr);
    return argv;
too_many:
    snprintf(msg, len, "health_probe.command has more than %d arguments", EXEC_MAX_ARGS);
    goto fail;
bad:
    snprintf(msg, len, "%s", syntax);
    goto fail;
nomem:
    snprintf(msg, len, "exec probe: out of memory");
fail:
    if (arr) json_object_put(arr);
    exec_argv_free(argv);
    return NULL;
}

static void exec_on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct exec_state *st = arg;
    for (struct exec_orphan **pp = &st->orphans; *pp;) {
        struct exec_orphan *o = *pp;
        if (waitpid(o->pid, NULL, WNOHANG) == 0) {
            pp = &o->next;
            continue;
        }
        *pp = o->next; /* reaped, or not ours any more (ECHILD) */
        free(o);
    }
    struct timeval tv = cp_ms_to_timeval(EXEC_REAP_MS);
    if (st->orphans) evtimer_add(st->reaper, &tv);
}

/* Kills the child's process group and reaps it now or later; the check forgets the pid. */
static void exec_kill(struct exec_check *c)
{
    if (c->pid <= 0) return;
    struct exec_state *st = c->st;
    kill(-c->pid, SIGKILL); /* the group: the command's own children too */
    kill(c->pid, SIGKILL);
    if (waitpid(c->pid, NULL, WNOHANG) == 0) { /* not dead yet: the reaper will see to it */
        struct exec_orphan *o = malloc(sizeof(*o));
        if (o) {
            o->pid = c->pid;
            o->next = st->orphans;
            st->orphans = o;
            struct timeval tv = cp_ms_to_timeval(EXEC_REAP_MS);
            evtimer_add(st->reaper, &tv);
        } else {
            waitpid(c->pid, NULL, 0); /* out of memory: SIGKILLed, so this wait is short */
        }
    }
    c->pid = 0;
}

/* Ends a check: kills a child still running (the deadline passed, or the probe was stopped)
 * and frees the rest. Never called inside exec_on_exit (the host's promise). */
static void exec_release(void *state, void *handle)
{
    (void)state;
    struct exec_check *c = handle;
    exec_kill(c);
    if (c->exit_ev) event_free(c->exit_ev);
    if (c->pidfd >= 0) close(c->pidfd);
    free(c);
}

/* The pidfd turned readable, or the poll timer fired. */
static void exec_on_exit(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct exec_check *c = arg;
    int status = 0;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == 0) { /* still running: poll again (never the case with a pidfd, but harmless) */
        c->poll_ms = c->poll_ms < EXEC_POLL_MAX_MS / 2 ? c->poll_ms * 2 : EXEC_POLL_MAX_MS;
        struct timeval tv = cp_ms_to_timeval(c->poll_ms);
        event_add(c->exit_ev, c->pidfd >= 0 ? NULL : &tv);
        return;
    }
    c->pid = 0;
    char msg[128];
    if (r < 0)
        snprintf(msg, sizeof(msg), "exit status unavailable (the child was reaped elsewhere)");
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        msg[0] = '\0';
    else if (WIFEXITED(status))
        snprintf(msg, sizeof(msg), "exit status %d", WEXITSTATUS(status));
    else
        snprintf(msg, sizeof(msg), "killed by signal %d",
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    c->done(c->cookie, msg[0] == '\0', -1, msg);
}

static int exec_spawn(struct exec_check *c, char **argv)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    const char *path = getenv("PATH");
    char path_env[4096];
    snprintf(path_env, sizeof(path_env), "PATH=%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
    char *envp[] = {path_env, NULL};
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    if (posix_spawn_file_actions_init(&fa) != 0) return ENOMEM;
    if (posix_spawnattr_init(&at) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return ENOMEM;
    }
    int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!rc) rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (!rc) rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (!rc)
        rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                               POSIX_SPAWN_SETPGROUP);
    if (!rc) rc = posix_spawnattr_setsigmask(&at, &none);
    if (!rc) rc = posix_spawnattr_setsigdefault(&at, &all);
    if (!rc) rc = posix_spawnattr_setpgroup(&at, 0);
    if (!rc) rc = posix_spawnp(&c->pid, argv[0], &fa, &at, argv, envp);
    if (rc) c->pid = 0;
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

static int exec_create(const struct cp_host *host, void **state, struct cp_err *err)
{
    struct exec_state *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err->msg, sizeof(err->msg), "exec probe: out of memory");
        return CP_ERR_NOMEM;
    }
    st->host = host;
    *state = st;
    return 0;
}

static void exec_destroy(void *state)
{
    struct exec_state *st = state;
    if (!st) return;
    while (st->orphans) {
        struct exec_orphan *o = st->orphans;
        st->orphans = o->next;
        waitpid(o->pid, NULL, 0); /* already SIGKILLed */
        free(o);
    }
    if (st->reaper) event_free(st->reaper);
    free(st);
}

static int exec_validate(void *state, const struct cp_probe_spec *spec, struct cp_err *err)
{
    (void)state;
    char **argv = exec_parse(cp_probe_spec_get(spec, "command"), err->msg, sizeof(err->msg));
    if (!argv) return CP_ERR_INVALID;
    exec_argv_free(argv);
    return 0;
}

static int exec_start(void *state, const struct cp_probe_spec *spec, cp_probe_done_cb done,
                      void *cookie, void **handle, struct cp_err *err)
{
    struct exec_state *st = state;
    struct event_base *base = st->host->event_base ? st->host->event_base(st->host) : NULL;
    if (!base) {
        snprintf(err->msg, sizeof(err->msg), "exec probe: the host has no event loop");
        return CP_ERR_UNAVAILABLE;
    }
    char **argv = exec_parse(cp_probe_spec_get(spec, "command"), err->msg, sizeof(err->msg));
    if (!argv) return strstr(err->msg, "out of memory") ? CP_ERR_NOMEM : CP_ERR_INVALID;
    if (!st->reaper) st->reaper = evtimer_new(base, exec_on_reap, st);
    struct exec_check *c = calloc(1, sizeof(*c));
    if (!c || !st->reaper) {
        free(c);
        exec_argv_free(argv);
        snprintf(err->msg, sizeof(err->msg), "exec probe: out of memory");
        return CP_ERR_NOMEM;
    }
    c->st = st;
    c->pidfd = -1;
    c->done = done;
    c->cookie = cookie;
    int rc = exec_spawn(c, argv);
    if (rc == 0) {
        c->pidfd = pidfd_open(c->pid, 0);
        c->poll_ms = 1;
        struct timeval poll = cp_ms_to_timeval(1);
        c->exit_ev = c->pidfd >= 0 ? event_new(base, c->pidfd, EV_READ, exec_on_exit, c)
                                   : evtimer_new(base, exec_on_exit, c);
        if (!c->exit_ev || event_add(c->exit_ev, c->pidfd >= 0 ? NULL : &poll) != 0) rc = ENOMEM;
    } else if (rc != ENOMEM) {
        /* A command that cannot run is a failed check (the host delivers it after start()). */
        char msg[300];
        snprintf(msg, sizeof(msg), "cannot run '%s': %s", argv[0], strerror(rc));
        done(cookie, 0, -1, msg);
    }
    exec_argv_free(argv);
    if (rc == ENOMEM) {
        exec_release(st, c);
        snprintf(err->msg, sizeof(err->msg), "exec probe: out of memory");
        return CP_ERR_NOMEM;
    }
    *handle = c;
    return 0;
}

static const struct cp_probe_ops exec_ops = {
    .version = CP_PROBE_OPS_VERSION,
    .create = exec_create,
    .destroy = exec_destroy,
    .validate = exec_validate,
    .start = exec_start,
    .release = exec_release,
};

CP_PLUGIN_DEFINE(CP_PLUGIN_PROBE, "exec", "1.0", &exec_ops);
