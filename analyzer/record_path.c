/* record_path.c - predicts the dump's path for `heapscope record`, which
 * prints it before it execs CMD. What the library will use is known here:
 * the pid (exec keeps ours), the program (argv[0]'s basename, or the
 * interpreter's for a #! script), the working directory (a relative template
 * is resolved against it at load) and the template (expanded by the same
 * common/hs_template.c). What is not known for certain (the start second
 * for %t, a directory that becomes writable, a name taken by then) is said
 * in words. Never fails: at worst it prints the template. Reads, never
 * creates: the library makes the file. */
#include "record_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hs_template.h"

/* The library tries name, then name.1 .. name.9 (interposer/writer.c). */
#define NUMBERED_NAMES 10

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The file execvp will run: cmd0 itself when it has a '/', else the first
 * executable regular file along $PATH (glibc's default when it is unset). */
static int resolve_command(const char *cmd0, char *out, size_t cap)
{
    if (strchr(cmd0, '/'))
        return snprintf(out, cap, "%s", cmd0) < (int)cap ? 0 : -1;
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        struct stat st;
        /* An empty element is the working directory. */
        int n = len ? snprintf(out, cap, "%.*s/%s", (int)len, p, cmd0) : snprintf(out, cap, "%s", cmd0);
        if (n > 0 && (size_t)n < cap && stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        if (!end)
            return -1;
        p = end + 1;
    }
}

/* What the library will see as the program name (%e): the basename of the
 * argv[0] the kernel gives the new image. That is cmd[0], except for a #!
 * script, where it is the interpreter's path as the #! line writes it. */
static void program_name(const char *cmd0, char *out, size_t cap)
{
    snprintf(out, cap, "%s", base_name(cmd0));
    char file[PATH_MAX], line[256];
    if (resolve_command(cmd0, file, sizeof(file)))
        return;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, line, sizeof(line) - 1);
    close(fd);
    if (n < 2 || line[0] != '#' || line[1] != '!')
        return;
    line[n] = 0;
    char *interp = line + 2;
    interp += strspn(interp, " \t");
    interp[strcspn(interp, " \t\r\n")] = 0;
    if (*interp)
        snprintf(out, cap, "%s", base_name(interp));
}

/* The template expanded for this process at start_seconds, made absolute
 * as the library makes it: cwd + '/' + name (no '/' added after "/"). */
static void expand_absolute(const char *tmpl, const char *program, uint64_t start_seconds, char *out, size_t cap)
{
    hs_template_vars_t vars = {(uint32_t)getpid(), program, start_seconds};
    char name[PATH_MAX + 64], cwd[PATH_MAX];
    if (hs_template_expand(tmpl, &vars, name, sizeof(name)))
        snprintf(name, sizeof(name), "%s", tmpl); /* the library refuses it too; show what was asked */
    int n = -1;
    if (name[0] != '/' && getcwd(cwd, sizeof(cwd)) && cwd[0] == '/')
        n = snprintf(out, cap, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", name);
    if (n < 0 || (size_t)n >= cap) /* absolute already, or no room for the directory: as the library keeps it */
        snprintf(out, cap, "%s", name);
}

void hs_record_path_predict(const char *tmpl, char *const *cmd, char *out, size_t cap)
{
    char program[256], path[PATH_MAX + 64], dir[PATH_MAX + 64];
    program_name(cmd[0], program, sizeof(program));
    time_t now = time(NULL);
    expand_absolute(tmpl, program, (uint64_t)now, path, sizeof(path));

    const char *slash = strrchr(path, '/');
    if (slash && slash != path)
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    else
        snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");

    /* The directory: when we cannot create a file in it now, the library
     * will fall back to $TMPDIR (or /tmp), unless it is writable by then. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(out, cap, "%s (or %s/%s if %s is still not writable then)", path, tmp, base_name(path), dir);
        return;
    }
    /* A taken name: O_EXCL refuses it, and the library tries name.1 .. .9;
     * a name taken by a directory or device sends it to $TMPDIR instead. */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
            snprintf(out, cap, "%s/%s (%s is not a file)", tmp, base_name(path), path);
            return;
        }
        char numbered[sizeof(path) + 16]; /* room for ".<int>" */
        for (int i = 1; i < NUMBERED_NAMES; i++) {
            if ((size_t)snprintf(numbered, sizeof(numbered), "%s.%d", path, i) >= sizeof(numbered))
                break;
            if (lstat(numbered, &st) != 0 && errno == ENOENT) {
                snprintf(out, cap, "%s (%s exists)", numbered, base_name(path));
                return;
            }
        }
        snprintf(out, cap, "%s.<nanoseconds>-1 (%s and .1 to .%d exist)", path, base_name(path), NUMBERED_NAMES - 1);
        return;
    }
    if (hs_template_uses(tmpl, 't')) {
        char later[sizeof(path)];
        expand_absolute(tmpl, program, (uint64_t)now + 1, later, sizeof(later));
        snprintf(out, cap, "%s (or %s if it starts a second later)", path, later);
        return;
    }
    snprintf(out, cap, "%s", path);
}
