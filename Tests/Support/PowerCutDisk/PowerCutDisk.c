// A disk that keeps only what was fsynced, for power-cut tests (LD_PRELOAD, Linux).
//
// With FACELOOP_POWER_CUT_DIR=<dir> in the environment, files opened under <dir> whose names
// contain ".sqlite" (but not the "-shm" WAL index, which is memory SQLite rebuilds on open)
// are tracked. Every call still reaches the real file, so the process reads its own writes,
// but the shim also keeps in memory the writes and truncations made since the last fsync.
// fsync/fdatasync applies them, in order, to a shadow file "<path>.durable". A shadow is
// created as a copy of the file the first time the file is opened while none exists (a file
// present at start is durable). When the process is SIGKILLed the pending operations die
// with it and the shadows hold exactly the synced bytes: copying each shadow over its file
// (and deleting the "-shm" files) is the machine coming back after a power cut.
//
// Not modelled: directory entries (creation, unlink) are durable at once; writes through
// mmap, writev/pwritev, fcntl(F_DUPFD), sync_file_range, syncfs and truncate(path) are not
// seen (SQLite's unix VFS uses none of them for these files: it imports open64, pwrite64,
// write, ftruncate64, fdatasync, close and unlink); a write that reached the page cache is
// lost or kept whole, never torn.
//
// LD_PRELOAD interposition is Linux's; elsewhere the library is empty.
#if defined(__linux__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

// Descriptors at or above this are refused loudly rather than silently left untracked.
#define POWER_CUT_MAX_FD 65536
#define SHADOW_SUFFIX ".durable"

typedef struct pending_operation {
    struct pending_operation *next;
    off_t offset;          // where the write starts, or the new length of a truncation
    size_t length;         // 0 for a truncation
    int is_truncation;
    unsigned char bytes[]; // the written bytes
} pending_operation;

typedef struct tracked_file {
    struct tracked_file *next;
    dev_t device;
    ino_t inode;
    char *shadow_path;
    pending_operation *first, *last;
    int open_descriptors;
    int unlinked; // its name is gone: nothing more reaches a shadow
} tracked_file;

static pthread_mutex_t power_cut_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t power_cut_once = PTHREAD_ONCE_INIT;
static char *power_cut_directory; // realpath of FACELOOP_POWER_CUT_DIR, NULL when inactive
static tracked_file *tracked_files;
static tracked_file *tracked_by_descriptor[POWER_CUT_MAX_FD];

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);

static void fail(const char *what, const char *path) {
    // A broken emulation must not pass for a durable disk: stop the process.
    fprintf(stderr, "PowerCutDisk: %s %s: %s\n", what, path ? path : "", strerror(errno));
    abort();
}

static void *resolve(const char *name) {
    void *symbol = dlsym(RTLD_NEXT, name);
    if (symbol == NULL) {
        fprintf(stderr, "PowerCutDisk: no %s after this library\n", name);
        abort();
    }
    return symbol;
}

static void initialize(void) {
    real_open = resolve("open");
    real_open64 = resolve("open64");
    real_openat = resolve("openat");
    real_openat64 = resolve("openat64");
    real_close = resolve("close");
    real_write = resolve("write");
    real_pwrite = resolve("pwrite");
    real_pwrite64 = resolve("pwrite64");
    real_ftruncate = resolve("ftruncate");
    real_ftruncate64 = resolve("ftruncate64");
    real_fsync = resolve("fsync");
    real_fdatasync = resolve("fdatasync");
    real_unlink = resolve("unlink");
    real_unlinkat = resolve("unlinkat");
    real_dup = resolve("dup");
    real_dup2 = resolve("dup2");
    real_dup3 = resolve("dup3");
    const char *directory = getenv("FACELOOP_POWER_CUT_DIR");
    if (directory != NULL && directory[0] != '\0') {
        power_cut_directory = realpath(directory, NULL);
        if (power_cut_directory == NULL) fail("cannot resolve FACELOOP_POWER_CUT_DIR", directory);
    }
}

static void ensure_initialized(void) { pthread_once(&power_cut_once, initialize); }

// Whether a canonical path names a file this disk tracks.
static int is_tracked_name(const char *path) {
    size_t directory_length = strlen(power_cut_directory);
    if (strncmp(path, power_cut_directory, directory_length) != 0 || path[directory_length] != '/') return 0;
    const char *name = strrchr(path, '/') + 1;
    size_t length = strlen(name);
    if (strstr(name, ".sqlite") == NULL) return 0;
    if (length >= 4 && strcmp(name + length - 4, "-shm") == 0) return 0;
    size_t suffix = strlen(SHADOW_SUFFIX);
    if (length >= suffix && strcmp(name + length - suffix, SHADOW_SUFFIX) == 0) return 0;
    return 1;
}

static char *shadow_path_of(const char *path) {
    char *shadow = malloc(strlen(path) + strlen(SHADOW_SUFFIX) + 1);
    if (shadow == NULL) fail("out of memory for", path);
    strcpy(shadow, path);
    strcat(shadow, SHADOW_SUFFIX);
    return shadow;
}

static void write_fully(int descriptor, const unsigned char *bytes, size_t length, off_t offset, const char *path) {
    while (length > 0) {
        ssize_t written = real_pwrite(descriptor, bytes, length, offset);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) fail("cannot write", path);
        bytes += written;
        length -= (size_t)written;
        offset += written;
    }
}

// The first sight of a file with no shadow: what it holds now is durable. Lock held.
static void create_shadow_if_missing(const char *path, const char *shadow_path) {
    int shadow = real_open(shadow_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (shadow < 0) {
        if (errno == EEXIST) return;
        fail("cannot create", shadow_path);
    }
    int source = real_open(path, O_RDONLY | O_CLOEXEC);
    if (source < 0) fail("cannot read", path);
    unsigned char buffer[65536];
    off_t offset = 0;
    for (;;) {
        ssize_t count = read(source, buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) fail("cannot read", path);
        if (count == 0) break;
        write_fully(shadow, buffer, (size_t)count, offset, shadow_path);
        offset += count;
    }
    real_close(source);
    real_close(shadow);
}

// Called after a successful open: starts tracking the descriptor if its file qualifies.
static void track_descriptor(int descriptor) {
    if (power_cut_directory == NULL || descriptor < 0) return;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", descriptor);
    ssize_t length = readlink(link, path, sizeof path - 1);
    if (length < 0) return;
    path[length] = '\0';
    if (!is_tracked_name(path)) return;
    if (descriptor >= POWER_CUT_MAX_FD) {
        errno = EMFILE;
        fail("descriptor too large to track for", path);
    }
    struct stat status;
    if (fstat(descriptor, &status) != 0) fail("cannot stat", path);
    pthread_mutex_lock(&power_cut_lock);
    tracked_file *file = tracked_files;
    while (file != NULL && !(file->device == status.st_dev && file->inode == status.st_ino && !file->unlinked)) file = file->next;
    if (file == NULL) {
        file = calloc(1, sizeof *file);
        if (file == NULL) fail("out of memory for", path);
        file->device = status.st_dev;
        file->inode = status.st_ino;
        file->shadow_path = shadow_path_of(path);
        create_shadow_if_missing(path, file->shadow_path);
        file->next = tracked_files;
        tracked_files = file;
    }
    file->open_descriptors += 1;
    __atomic_store_n(&tracked_by_descriptor[descriptor], file, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&power_cut_lock);
}

static tracked_file *tracked(int descriptor) {
    if (power_cut_directory == NULL || descriptor < 0 || descriptor >= POWER_CUT_MAX_FD) return NULL;
    return __atomic_load_n(&tracked_by_descriptor[descriptor], __ATOMIC_ACQUIRE);
}

static void free_operations(tracked_file *file) {
    pending_operation *operation = file->first;
    while (operation != NULL) {
        pending_operation *next = operation->next;
        free(operation);
        operation = next;
    }
    file->first = file->last = NULL;
}

// Forgets a descriptor (closed, or replaced by dup2). Lock held.
static void untrack_descriptor(int descriptor) {
    if (descriptor < 0 || descriptor >= POWER_CUT_MAX_FD) return;
    tracked_file *file = tracked_by_descriptor[descriptor];
    if (file == NULL) return;
    __atomic_store_n(&tracked_by_descriptor[descriptor], NULL, __ATOMIC_RELEASE);
    // Closing flushes nothing: the pending operations stay until an fsync of the file.
    file->open_descriptors -= 1;
    if (file->open_descriptors == 0 && file->unlinked) {
        tracked_file **link = &tracked_files;
        while (*link != file) link = &(*link)->next;
        *link = file->next;
        free_operations(file);
        free(file->shadow_path);
        free(file);
    }
}

// Lock held.
static void remember(tracked_file *file, off_t offset, const void *bytes, size_t length, int is_truncation) {
    if (file->unlinked) return;
    pending_operation *operation = malloc(sizeof *operation + length);
    if (operation == NULL) fail("out of memory for", file->shadow_path);
    operation->next = NULL;
    operation->offset = offset;
    operation->length = length;
    operation->is_truncation = is_truncation;
    if (length > 0) memcpy(operation->bytes, bytes, length);
    if (file->last != NULL) file->last->next = operation; else file->first = operation;
    file->last = operation;
}

// fsync: what was pending reaches the shadow, in the order it was done. Lock held.
static void make_durable(tracked_file *file) {
    if (file->unlinked || file->first == NULL) return;
    int shadow = real_open(file->shadow_path, O_WRONLY | O_CLOEXEC);
    if (shadow < 0) fail("cannot open", file->shadow_path);
    for (pending_operation *operation = file->first; operation != NULL; operation = operation->next) {
        if (operation->is_truncation) {
            if (real_ftruncate(shadow, operation->offset) != 0) fail("cannot truncate", file->shadow_path);
        } else {
            write_fully(shadow, operation->bytes, operation->length, operation->offset, file->shadow_path);
        }
    }
    real_close(shadow);
    free_operations(file);
}

static int mode_argument_needed(int flags) {
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

// O_TRUNC is a write to the file: open without it, then truncate through the shim.
static int open_tracked(int descriptor, int truncate) {
    track_descriptor(descriptor);
    if (descriptor >= 0 && truncate) {
        struct stat status;
        if (fstat(descriptor, &status) == 0 && S_ISREG(status.st_mode) && ftruncate(descriptor, 0) != 0) {
            int saved = errno;
            close(descriptor);
            errno = saved;
            return -1;
        }
    }
    return descriptor;
}

// Only names that could be tracked take this path; every other open is left exactly as asked.
static int truncates(const char *path, int flags) {
    if (power_cut_directory == NULL || (flags & O_TRUNC) == 0 || (flags & O_ACCMODE) == O_RDONLY) return 0;
    const char *slash = strrchr(path, '/');
    return strstr(slash != NULL ? slash + 1 : path, ".sqlite") != NULL;
}

#define MODE_ARGUMENT(flags)                          \
    mode_t mode = 0;                                  \
    if (mode_argument_needed(flags)) {                \
        va_list arguments;                            \
        va_start(arguments, flags);                   \
        mode = (mode_t)va_arg(arguments, int);        \
        va_end(arguments);                            \
    }

int open(const char *path, int flags, ...) {
    ensure_initialized();
    MODE_ARGUMENT(flags)
    int truncate = truncates(path, flags);
    return open_tracked(real_open(path, truncate ? flags & ~O_TRUNC : flags, mode), truncate);
}

int open64(const char *path, int flags, ...) {
    ensure_initialized();
    MODE_ARGUMENT(flags)
    int truncate = truncates(path, flags);
    return open_tracked(real_open64(path, truncate ? flags & ~O_TRUNC : flags, mode), truncate);
}

int openat(int directory, const char *path, int flags, ...) {
    ensure_initialized();
    MODE_ARGUMENT(flags)
    int truncate = truncates(path, flags);
    return open_tracked(real_openat(directory, path, truncate ? flags & ~O_TRUNC : flags, mode), truncate);
}

int openat64(int directory, const char *path, int flags, ...) {
    ensure_initialized();
    MODE_ARGUMENT(flags)
    int truncate = truncates(path, flags);
    return open_tracked(real_openat64(directory, path, truncate ? flags & ~O_TRUNC : flags, mode), truncate);
}

int close(int descriptor) {
    ensure_initialized();
    if (tracked(descriptor) != NULL) {
        pthread_mutex_lock(&power_cut_lock);
        untrack_descriptor(descriptor);
        pthread_mutex_unlock(&power_cut_lock);
    }
    return real_close(descriptor);
}

// A duplicate shares the file: its writes and fsyncs count like the original's. Lock held.
static void track_duplicate(int old_descriptor, int new_descriptor) {
    tracked_file *file = tracked(old_descriptor);
    if (file == NULL || new_descriptor < 0) return;
    if (new_descriptor >= POWER_CUT_MAX_FD) {
        errno = EMFILE;
        fail("descriptor too large to track for", file->shadow_path);
    }
    file->open_descriptors += 1;
    __atomic_store_n(&tracked_by_descriptor[new_descriptor], file, __ATOMIC_RELEASE);
}

int dup(int old_descriptor) {
    ensure_initialized();
    pthread_mutex_lock(&power_cut_lock);
    int result = real_dup(old_descriptor);
    track_duplicate(old_descriptor, result);
    pthread_mutex_unlock(&power_cut_lock);
    return result;
}

int dup2(int old_descriptor, int new_descriptor) {
    ensure_initialized();
    pthread_mutex_lock(&power_cut_lock);
    int result = real_dup2(old_descriptor, new_descriptor);
    if (result >= 0 && old_descriptor != new_descriptor) {
        untrack_descriptor(new_descriptor);
        track_duplicate(old_descriptor, new_descriptor);
    }
    pthread_mutex_unlock(&power_cut_lock);
    return result;
}

int dup3(int old_descriptor, int new_descriptor, int flags) {
    ensure_initialized();
    pthread_mutex_lock(&power_cut_lock);
    int result = real_dup3(old_descriptor, new_descriptor, flags);
    if (result >= 0) {
        untrack_descriptor(new_descriptor);
        track_duplicate(old_descriptor, new_descriptor);
    }
    pthread_mutex_unlock(&power_cut_lock);
    return result;
}

ssize_t write(int descriptor, const void *bytes, size_t length) {
    ensure_initialized();
    if (tracked(descriptor) == NULL) return real_write(descriptor, bytes, length);
    pthread_mutex_lock(&power_cut_lock);
    tracked_file *file = tracked(descriptor);
    off_t offset = lseek(descriptor, 0, SEEK_CUR);
    if (file != NULL && (fcntl(descriptor, F_GETFL) & O_APPEND) != 0) {
        struct stat status;
        offset = fstat(descriptor, &status) == 0 ? status.st_size : -1;
    }
    ssize_t written = real_write(descriptor, bytes, length);
    int saved = errno;
    if (file != NULL && written > 0) {
        if (offset < 0) fail("cannot tell the offset of a write to", file->shadow_path);
        remember(file, offset, bytes, (size_t)written, 0);
    }
    pthread_mutex_unlock(&power_cut_lock);
    errno = saved;
    return written;
}

static ssize_t positioned_write(ssize_t (*real)(int, const void *, size_t, off_t), int descriptor, const void *bytes,
                                size_t length, off_t offset) {
    if (tracked(descriptor) == NULL) return real(descriptor, bytes, length, offset);
    pthread_mutex_lock(&power_cut_lock);
    tracked_file *file = tracked(descriptor);
    ssize_t written = real(descriptor, bytes, length, offset);
    int saved = errno;
    if (file != NULL && written > 0) remember(file, offset, bytes, (size_t)written, 0);
    pthread_mutex_unlock(&power_cut_lock);
    errno = saved;
    return written;
}

ssize_t pwrite(int descriptor, const void *bytes, size_t length, off_t offset) {
    ensure_initialized();
    return positioned_write(real_pwrite, descriptor, bytes, length, offset);
}

ssize_t pwrite64(int descriptor, const void *bytes, size_t length, off64_t offset) {
    ensure_initialized();
    return positioned_write(real_pwrite64, descriptor, bytes, length, offset);
}

static int truncation(int (*real)(int, off_t), int descriptor, off_t length) {
    if (tracked(descriptor) == NULL) return real(descriptor, length);
    pthread_mutex_lock(&power_cut_lock);
    tracked_file *file = tracked(descriptor);
    int result = real(descriptor, length);
    int saved = errno;
    if (file != NULL && result == 0) remember(file, length, NULL, 0, 1);
    pthread_mutex_unlock(&power_cut_lock);
    errno = saved;
    return result;
}

int ftruncate(int descriptor, off_t length) {
    ensure_initialized();
    return truncation(real_ftruncate, descriptor, length);
}

int ftruncate64(int descriptor, off64_t length) {
    ensure_initialized();
    return truncation(real_ftruncate64, descriptor, length);
}

static int synchronization(int (*real)(int), int descriptor) {
    if (tracked(descriptor) == NULL) return real(descriptor);
    pthread_mutex_lock(&power_cut_lock);
    tracked_file *file = tracked(descriptor);
    int result = real(descriptor);
    int saved = errno;
    if (file != NULL && result == 0) make_durable(file);
    pthread_mutex_unlock(&power_cut_lock);
    errno = saved;
    return result;
}

int fsync(int descriptor) {
    ensure_initialized();
    return synchronization(real_fsync, descriptor);
}

int fdatasync(int descriptor) {
    ensure_initialized();
    return synchronization(real_fdatasync, descriptor);
}

// Unlinking a tracked file drops its shadow too: a deleted file is deleted durably.
static void forget_name(const char *canonical) {
    if (!is_tracked_name(canonical)) return;
    struct stat status;
    if (stat(canonical, &status) != 0) return;
    pthread_mutex_lock(&power_cut_lock);
    for (tracked_file *file = tracked_files; file != NULL; file = file->next) {
        if (file->device == status.st_dev && file->inode == status.st_ino && !file->unlinked) {
            file->unlinked = 1;
            free_operations(file);
        }
    }
    char *shadow = shadow_path_of(canonical);
    if (real_unlink(shadow) != 0 && errno != ENOENT) fail("cannot unlink", shadow);
    free(shadow);
    pthread_mutex_unlock(&power_cut_lock);
}

// The canonical path of an existing file named relative to a directory descriptor.
static int canonical_path(int directory, const char *path, char *canonical) {
    char joined[PATH_MAX];
    if (path[0] == '/' || directory == AT_FDCWD) {
        snprintf(joined, sizeof joined, "%s", path);
    } else {
        char link[64], base[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", directory);
        ssize_t length = readlink(link, base, sizeof base - 1);
        if (length < 0) return 0;
        base[length] = '\0';
        snprintf(joined, sizeof joined, "%s/%s", base, path);
    }
    return realpath(joined, canonical) != NULL;
}

int unlink(const char *path) {
    ensure_initialized();
    char canonical[PATH_MAX];
    if (power_cut_directory != NULL && canonical_path(AT_FDCWD, path, canonical)) forget_name(canonical);
    return real_unlink(path);
}

int unlinkat(int directory, const char *path, int flags) {
    ensure_initialized();
    char canonical[PATH_MAX];
    if (power_cut_directory != NULL && (flags & AT_REMOVEDIR) == 0 && canonical_path(directory, path, canonical)) {
        forget_name(canonical);
    }
    return real_unlinkat(directory, path, flags);
}

__attribute__((constructor)) static void power_cut_disk_load(void) { ensure_initialized(); }
#endif
