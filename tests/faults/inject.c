/*
 * inject.c: an LD_PRELOAD shim that makes one chosen file-system call of the `custody`
 * binary fail, or kills the process right before it, for `tests/tests/faults.rs`.
 *
 * Built by that test at run time:
 *     cc -shared -fPIC -O2 -o libinject.so tests/faults/inject.c -ldl
 *
 * Configured by the environment, read once when the library loads:
 *
 *   CUSTODY_FAULT_CALL    the call kind to hit: write (also writev), pwrite (pwrite64),
 *                         fsync, fdatasync, sync_file_range, rename (renameat, renameat2),
 *                         open (open, open64, openat, openat64, creat; only calls with
 *                         O_CREAT count), ftruncate (ftruncate64), close; or several,
 *                         separated by commas (each counted on its own)
 *   CUSTODY_FAULT_NTH     hit the Nth eligible call of that kind (1-based; default 1);
 *                         `N+` hits the Nth and every later one (a disk gone bad)
 *   CUSTODY_FAULT_PATH    if set, only calls whose path contains this text are eligible
 *                         (for calls on a descriptor, the path /proc/self/fd resolves;
 *                         for rename, either path)
 *   CUSTODY_FAULT_FD      if set, only calls on this descriptor are eligible; without it,
 *                         calls on descriptors 0, 1 and 2 never are
 *   CUSTODY_FAULT_ERRNO   EIO (default), ENOSPC, EDQUOT, EROFS or EACCES
 *   CUSTODY_FAULT_ACTION  fail (default): return -1 with that errno without making the call;
 *                         kill: SIGKILL the process right before making the call;
 *                         pause: hold the calling thread there (the others run on) until
 *                         the file CUSTODY_FAULT_RELEASE exists, then make the call
 *   CUSTODY_FAULT_COUNT   a file to append one line per interposed call to, eligible or not:
 *                             <kind> <n> <fd> <path>[ <path2>]
 *                         where n is the call's number among eligible calls of its kind (0
 *                         if not eligible), fd is -1 for calls on a path; fsync, fdatasync
 *                         and sync_file_range add `end <kind> <n> <fd> <result> <path>`
 *                         when they return; the injected fault adds
 *                         `FAULT <kind> <n> <action>`
 *   CUSTODY_FAULT_SHADOW  (power-loss model) a directory to record what is durable in: at
 *                         each successful fsync or fdatasync of a file under
 *                         CUSTODY_FAULT_SHADOW_ROOT the file's bytes are copied to
 *                         <shadow>/<k> and `file <ino> <k> <path>` is logged to
 *                         <shadow>/log; at each fsync of a directory under it,
 *                         `dir <path>` then one `entry <ino> <d|f> <name>` line per entry
 *                         and `end`. What was never synced is what a power loss may lose.
 *
 * Everything the hooks do on the way to a fault uses raw system calls and stack buffers, no
 * locks and no allocation; the counters are atomic, so the hooks are thread-safe (sled
 * writes and syncs from several threads).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum kind { K_WRITE, K_PWRITE, K_FSYNC, K_FDATASYNC, K_SYNC_FILE_RANGE, K_RENAME, K_OPEN,
            K_FTRUNCATE, K_CLOSE, K_KINDS };
static const char *const kind_names[K_KINDS] = {"write", "pwrite", "fsync", "fdatasync",
    "sync_file_range", "rename", "open", "ftruncate", "close"};

enum action { FAIL, KILL, PAUSE };

static unsigned targets; /* bit k set: kind k is hit */
static long nth = 1;
static int sticky;       /* NTH was `N+` */
static int fault_errno = EIO;
static enum action action = FAIL;
static const char *path_filter;
static const char *release;
static int fd_filter = -1;
static int log_fd = -1;
static int shadow_dir_fd = -1;
static int shadow_log_fd = -1;
static const char *shadow_root;
static _Atomic long counters[K_KINDS];
static _Atomic long shadow_copies;

/* ---- small helpers without allocation ------------------------------------------- */

struct buf { char text[2 * PATH_MAX + 128]; size_t len; };

static void put(struct buf *b, const char *s) {
    while (*s && b->len < sizeof b->text - 2) b->text[b->len++] = *s++;
}

static void put_long(struct buf *b, long v) {
    char digits[24];
    int i = 0;
    unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
    if (v < 0) put(b, "-");
    do { digits[i++] = (char)('0' + u % 10); u /= 10; } while (u);
    while (i) { char c[2] = {digits[--i], 0}; put(b, c); }
}

static void emit(int fd, struct buf *b) {
    b->text[b->len++] = '\n';
    if (fd >= 0) syscall(SYS_write, fd, b->text, b->len);
}

static int kind_of(const char *name) {
    static const struct { const char *alias; int kind; } aliases[] = {
        {"writev", K_WRITE}, {"pwrite64", K_PWRITE}, {"renameat", K_RENAME},
        {"renameat2", K_RENAME}, {"openat", K_OPEN}, {"open64", K_OPEN},
        {"openat64", K_OPEN}, {"creat", K_OPEN}, {"ftruncate64", K_FTRUNCATE}};
    for (int k = 0; k < K_KINDS; k++)
        if (strcmp(name, kind_names[k]) == 0) return k;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i].alias) == 0) return aliases[i].kind;
    return -2; /* unknown: never matches, and says so in the count file */
}

/* The path behind a descriptor, or "" if it has none. */
static void fd_path(int fd, char *out, size_t size) {
    struct buf link = {.len = 0};
    put(&link, "/proc/self/fd/");
    put_long(&link, fd);
    link.text[link.len] = 0;
    long n = syscall(SYS_readlinkat, AT_FDCWD, link.text, out, size - 1);
    out[n > 0 ? n : 0] = 0;
}

/* An absolute form of `path` (relative to the working directory) in `out`. */
static void absolute(const char *path, char *out, size_t size) {
    if (path[0] == '/') {
        strncpy(out, path, size - 1);
        out[size - 1] = 0;
        return;
    }
    long n = syscall(SYS_getcwd, out, size);
    size_t len = n > 0 ? strlen(out) : 0;
    if (len + 1 + strlen(path) + 1 > size) { out[0] = 0; return; }
    out[len] = '/';
    strcpy(out + len + 1, path);
}

__attribute__((constructor)) static void configure(void) {
    const char *v;
    int unknown = 0;
    if ((v = getenv("CUSTODY_FAULT_CALL")) && *v) {
        char name[32];
        for (const char *p = v; *p;) {
            size_t len = strcspn(p, ",");
            if (len < sizeof name) {
                memcpy(name, p, len);
                name[len] = 0;
                int k = kind_of(name);
                if (k >= 0) targets |= 1u << k; else unknown = 1;
            } else {
                unknown = 1;
            }
            p += len;
            if (*p == ',') p++;
        }
    }
    if ((v = getenv("CUSTODY_FAULT_NTH")) && *v) {
        nth = atol(v);
        sticky = v[strlen(v) - 1] == '+';
    }
    if ((v = getenv("CUSTODY_FAULT_PATH")) && *v) path_filter = v;
    if ((v = getenv("CUSTODY_FAULT_FD")) && *v) fd_filter = atoi(v);
    if ((v = getenv("CUSTODY_FAULT_ACTION")) && strcmp(v, "kill") == 0) action = KILL;
    if (v && strcmp(v, "pause") == 0) action = PAUSE;
    release = getenv("CUSTODY_FAULT_RELEASE");
    if ((v = getenv("CUSTODY_FAULT_ERRNO")) && *v) {
        if (strcmp(v, "ENOSPC") == 0) fault_errno = ENOSPC;
        else if (strcmp(v, "EDQUOT") == 0) fault_errno = EDQUOT;
        else if (strcmp(v, "EROFS") == 0) fault_errno = EROFS;
        else if (strcmp(v, "EACCES") == 0) fault_errno = EACCES;
        else fault_errno = EIO;
    }
    if ((v = getenv("CUSTODY_FAULT_COUNT")) && *v) {
        log_fd = (int)syscall(SYS_openat, AT_FDCWD, v,
                              O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (unknown) {
            struct buf b = {.len = 0};
            put(&b, "UNKNOWN-CALL ");
            put(&b, getenv("CUSTODY_FAULT_CALL"));
            emit(log_fd, &b);
        }
    }
    if ((v = getenv("CUSTODY_FAULT_SHADOW")) && *v) {
        shadow_dir_fd = (int)syscall(SYS_openat, AT_FDCWD, v, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        shadow_log_fd = (int)syscall(SYS_openat, shadow_dir_fd, "log",
                                     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        shadow_root = getenv("CUSTODY_FAULT_SHADOW_ROOT");
    }
}

/* ---- the decision, shared by every hook ------------------------------------------- */

/*
 * Called before a call of `kind` on `fd` (or -1) or `path` (and `path2` for rename).
 * Returns the call's eligible number (0 if not eligible), or -1 after setting errno when
 * the call must fail. Does not return when the action is kill.
 */
static long hook(int kind, int fd, const char *path, const char *path2) {
    if (fd >= 0 && (fd == log_fd || fd == shadow_log_fd || fd == shadow_dir_fd)) return 0;
    int targeted = (targets >> kind) & 1;
    if (log_fd < 0 && !targeted) return 0;
    char resolved[PATH_MAX];
    if (!path) {
        resolved[0] = 0;
        if (fd >= 0) fd_path(fd, resolved, sizeof resolved);
        path = resolved;
    }
    int eligible = fd_filter >= 0 ? fd == fd_filter : (fd < 0 || fd > 2);
    if (eligible && path_filter)
        eligible = strstr(path, path_filter) || (path2 && strstr(path2, path_filter));
    long n = eligible ? atomic_fetch_add(&counters[kind], 1) + 1 : 0;
    if (log_fd >= 0) {
        struct buf b = {.len = 0};
        put(&b, kind_names[kind]); put(&b, " "); put_long(&b, n); put(&b, " ");
        put_long(&b, fd); put(&b, " "); put(&b, *path ? path : "-");
        if (path2) { put(&b, " "); put(&b, path2); }
        emit(log_fd, &b);
    }
    if (!eligible || !targeted || (sticky ? n < nth : n != nth)) return n;
    if (log_fd >= 0) {
        static const char *const action_names[] = {" fail", " kill", " pause"};
        struct buf b = {.len = 0};
        put(&b, "FAULT "); put(&b, kind_names[kind]); put(&b, " "); put_long(&b, n);
        put(&b, action_names[action]);
        emit(log_fd, &b);
    }
    if (action == KILL) {
        syscall(SYS_kill, syscall(SYS_getpid), SIGKILL);
        for (;;) pause();
    }
    if (action == PAUSE) {
        struct timespec tick = {0, 1000000};
        while (release && syscall(SYS_faccessat, AT_FDCWD, release, F_OK, 0) != 0)
            syscall(SYS_nanosleep, &tick, NULL);
        return n;
    }
    errno = fault_errno;
    return -1;
}

static void log_end(int kind, long n, int fd, long result) {
    if (log_fd < 0) return;
    char path[PATH_MAX];
    fd_path(fd, path, sizeof path);
    struct buf b = {.len = 0};
    put(&b, "end "); put(&b, kind_names[kind]); put(&b, " "); put_long(&b, n); put(&b, " ");
    put_long(&b, fd); put(&b, " "); put_long(&b, result); put(&b, " ");
    put(&b, *path ? path : "-");
    emit(log_fd, &b);
}

/* ---- the power-loss model: what each successful sync made durable ------------------- */

static void shadow_synced(int fd) {
    char path[PATH_MAX];
    struct stat st;
    if (shadow_log_fd < 0 || !shadow_root) return;
    fd_path(fd, path, sizeof path);
    if (strncmp(path, shadow_root, strlen(shadow_root)) != 0) return;
    if (fstat(fd, &st) != 0) return;
    struct buf b = {.len = 0};
    if (S_ISDIR(st.st_mode)) {
        put(&b, "dir "); put(&b, path);
        emit(shadow_log_fd, &b);
        int dfd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            b.len = 0;
            put(&b, "entry "); put_long(&b, (long)e->d_ino);
            put(&b, e->d_type == DT_DIR ? " d " : " f "); put(&b, e->d_name);
            emit(shadow_log_fd, &b);
        }
        if (dir) closedir(dir);
        b.len = 0;
        put(&b, "end");
        emit(shadow_log_fd, &b);
        return;
    }
    if (!S_ISREG(st.st_mode)) return;
    long k = atomic_fetch_add(&shadow_copies, 1) + 1;
    struct buf name = {.len = 0};
    put_long(&name, k);
    name.text[name.len] = 0;
    int in = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    int out = (int)syscall(SYS_openat, shadow_dir_fd, name.text,
                           O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char chunk[65536];
    long got;
    while (in >= 0 && out >= 0 && (got = syscall(SYS_read, in, chunk, sizeof chunk)) > 0)
        syscall(SYS_write, out, chunk, got);
    if (in >= 0) syscall(SYS_close, in);
    if (out >= 0) syscall(SYS_close, out);
    put(&b, "file "); put_long(&b, (long)st.st_ino); put(&b, " "); put_long(&b, k);
    put(&b, " "); put(&b, path);
    emit(shadow_log_fd, &b);
}

/* ---- the interposed functions --------------------------------------------------------- */

#define REAL(ret, name, ...)                                             \
    static ret (*real)(__VA_ARGS__);                                     \
    if (!real) real = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *data, size_t len) {
    REAL(ssize_t, write, int, const void *, size_t);
    if (hook(K_WRITE, fd, NULL, NULL) < 0) return -1;
    return real(fd, data, len);
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
    REAL(ssize_t, writev, int, const struct iovec *, int);
    if (hook(K_WRITE, fd, NULL, NULL) < 0) return -1;
    return real(fd, iov, count);
}

ssize_t pwrite(int fd, const void *data, size_t len, off_t offset) {
    REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
    if (hook(K_PWRITE, fd, NULL, NULL) < 0) return -1;
    return real(fd, data, len, offset);
}

ssize_t pwrite64(int fd, const void *data, size_t len, off64_t offset) {
    REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t);
    if (hook(K_PWRITE, fd, NULL, NULL) < 0) return -1;
    return real(fd, data, len, offset);
}

static int synced(int kind, int fd, int (*call)(int)) {
    long n = hook(kind, fd, NULL, NULL);
    if (n < 0) return -1;
    int result = call(fd);
    int saved = errno;
    if (result == 0) shadow_synced(fd);
    log_end(kind, n, fd, result);
    errno = saved;
    return result;
}

int fsync(int fd) {
    REAL(int, fsync, int);
    return synced(K_FSYNC, fd, real);
}

int fdatasync(int fd) {
    REAL(int, fdatasync, int);
    return synced(K_FDATASYNC, fd, real);
}

int sync_file_range(int fd, off64_t offset, off64_t len, unsigned int flags) {
    REAL(int, sync_file_range, int, off64_t, off64_t, unsigned int);
    long n = hook(K_SYNC_FILE_RANGE, fd, NULL, NULL);
    if (n < 0) return -1;
    int result = real(fd, offset, len, flags);
    int saved = errno;
    log_end(K_SYNC_FILE_RANGE, n, fd, result);
    errno = saved;
    return result;
}

int rename(const char *from, const char *to) {
    REAL(int, rename, const char *, const char *);
    char a[PATH_MAX], b[PATH_MAX];
    absolute(from, a, sizeof a);
    absolute(to, b, sizeof b);
    if (hook(K_RENAME, -1, a, b) < 0) return -1;
    return real(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to) {
    REAL(int, renameat, int, const char *, int, const char *);
    if (hook(K_RENAME, -1, from, to) < 0) return -1;
    return real(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags) {
    REAL(int, renameat2, int, const char *, int, const char *, unsigned int);
    if (hook(K_RENAME, -1, from, to) < 0) return -1;
    return real(fromfd, from, tofd, to, flags);
}

/* open and friends: only creating calls are counted; the mode argument is variadic. */
#define OPEN_MODE(flags, mode)                                           \
    mode_t mode = 0;                                                     \
    if ((flags) & (O_CREAT | __O_TMPFILE)) {                             \
        va_list ap;                                                      \
        va_start(ap, flags);                                             \
        mode = (mode_t)va_arg(ap, int);                                  \
        va_end(ap);                                                      \
    }

static int creating(int flags, const char *path) {
    if (!(flags & O_CREAT)) return 0;
    char abs[PATH_MAX];
    absolute(path, abs, sizeof abs);
    return hook(K_OPEN, -1, abs, NULL) < 0;
}

int open(const char *path, int flags, ...) {
    REAL(int, open, const char *, int, ...);
    OPEN_MODE(flags, mode);
    if (creating(flags, path)) return -1;
    return real(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    REAL(int, open64, const char *, int, ...);
    OPEN_MODE(flags, mode);
    if (creating(flags, path)) return -1;
    return real(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    REAL(int, openat, int, const char *, int, ...);
    OPEN_MODE(flags, mode);
    if ((flags & O_CREAT) && hook(K_OPEN, -1, path, NULL) < 0) return -1;
    return real(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    REAL(int, openat64, int, const char *, int, ...);
    OPEN_MODE(flags, mode);
    if ((flags & O_CREAT) && hook(K_OPEN, -1, path, NULL) < 0) return -1;
    return real(dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode) {
    REAL(int, creat, const char *, mode_t);
    if (creating(O_CREAT, path)) return -1;
    return real(path, mode);
}

int ftruncate(int fd, off_t len) {
    REAL(int, ftruncate, int, off_t);
    if (hook(K_FTRUNCATE, fd, NULL, NULL) < 0) return -1;
    return real(fd, len);
}

int ftruncate64(int fd, off64_t len) {
    REAL(int, ftruncate64, int, off64_t);
    if (hook(K_FTRUNCATE, fd, NULL, NULL) < 0) return -1;
    return real(fd, len);
}

int close(int fd) {
    REAL(int, close, int);
    if (fd >= 0 && (fd == log_fd || fd == shadow_log_fd || fd == shadow_dir_fd)) {
        /* The program closing one of our descriptors (it cannot know them): keep it. */
        return 0;
    }
    if (hook(K_CLOSE, fd, NULL, NULL) < 0) {
        /* Like Linux: the descriptor is released even when close reports an error. */
        int saved = errno;
        real(fd);
        errno = saved;
        return -1;
    }
    return real(fd);
}
