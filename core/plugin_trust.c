/* plugin_trust.c — who could have written a plugin before cpd runs its code. Like sshd's
 * StrictModes: the file and every directory above it must belong to root or to the user cpd
 * runs as, and must not be writable by anyone else — else whoever can write there runs code as
 * cpd. Group-writable is accepted when the group is the owner's private group (user private
 * groups, umask 002: Debian's sshd allows the same); so is a writable directory with the sticky
 * bit (/tmp): others cannot rename or replace what is ours in it, and what they put there is
 * theirs, which the owner rule refuses. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_loader.h"

/* The group is the owner's own: its primary group, named like the user, with no other member. */
static int private_group(uid_t uid, gid_t gid)
{
    const struct passwd *pw = getpwuid(uid);
    if (!pw || pw->pw_gid != gid) return 0;
    char user[256];
    snprintf(user, sizeof user, "%s", pw->pw_name);
    const struct group *gr = getgrgid(gid);
    if (!gr || strcmp(gr->gr_name, user) != 0) return 0;
    for (char **m = gr->gr_mem; m && *m; m++)
        if (strcmp(*m, user) != 0) return 0;
    return 1;
}

static void owner_name(uid_t uid, char *buf, size_t len)
{
    const struct passwd *pw = getpwuid(uid);
    if (pw)
        snprintf(buf, len, "user %s (uid %u)", pw->pw_name, (unsigned)uid);
    else
        snprintf(buf, len, "uid %u", (unsigned)uid);
}

/* One path component. 0, or -1 with err naming it and the fix. */
static int check_one(const char *plugin, const char *path, int is_file, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "plugin %s: cannot check %s: %s", plugin, path, strerror(errno));
        return -1;
    }
    const char *what = is_file ? "file" : "directory";
    uid_t me = geteuid();
    if (st.st_uid != 0 && st.st_uid != me) {
        char who[300], fixer[300];
        owner_name(st.st_uid, who, sizeof who);
        const struct passwd *pw = getpwuid(me);
        snprintf(fixer, sizeof fixer, "%s", pw ? pw->pw_name : "root");
        snprintf(err, errlen,
                 "plugin %s: refusing to load: %s %s is owned by %s, not by root or the user cpd "
                 "runs as (uid %u), who could replace the plugin; fix: chown %s %s (or set "
                 "plugins_strict_permissions: false for development)",
                 plugin, what, path, who, (unsigned)me, fixer, path);
        return -1;
    }
    int sticky_dir = !is_file && (st.st_mode & S_ISVTX);
    int group_ok = !(st.st_mode & S_IWGRP) || sticky_dir || private_group(st.st_uid, st.st_gid);
    int other_ok = !(st.st_mode & S_IWOTH) || sticky_dir;
    if (group_ok && other_ok) return 0;
    snprintf(err, errlen,
             "plugin %s: refusing to load: %s %s is writable by %s (mode %04o), who could replace "
             "the plugin; fix: chmod go-w %s (or set plugins_strict_permissions: false for "
             "development)",
             plugin, what, path, other_ok ? "its group" : "others", (unsigned)(st.st_mode & 07777),
             path);
    return -1;
}

/* The file and each directory above it, up to "/". `abs` is an absolute path. */
static int check_chain(const char *plugin, const char *abs, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", abs) >= (int)sizeof buf) {
        snprintf(err, errlen, "plugin %s: path too long", plugin);
        return -1;
    }
    if (check_one(plugin, buf, 1, err, errlen) != 0) return -1;
    for (;;) {
        char *slash = strrchr(buf, '/');
        if (!slash) return 0;
        if (slash == buf) return check_one(plugin, "/", 0, err, errlen);
        *slash = '\0';
        if (check_one(plugin, buf, 0, err, errlen) != 0) return -1;
    }
}

int plugin_path_trusted(const char *path, char *err, size_t errlen)
{
    char abs[PATH_MAX], real[PATH_MAX];
    if (path[0] == '/') {
        snprintf(abs, sizeof abs, "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd) ||
            snprintf(abs, sizeof abs, "%s/%s", cwd, path) >= (int)sizeof abs) {
            snprintf(err, errlen, "plugin %s: cannot make the path absolute", path);
            return -1;
        }
    }
    /* The path as written (its directories decide what a name resolves to) and, when links are
     * involved, the file it really is. */
    if (check_chain(path, abs, err, errlen) != 0) return -1;
    if (realpath(abs, real) && strcmp(real, abs) != 0) return check_chain(path, real, err, errlen);
    return 0;
}
