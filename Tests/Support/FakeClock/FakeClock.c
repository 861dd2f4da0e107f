// A wall clock that runs ahead, for tests that live through years in minutes (LD_PRELOAD, Linux).
//
// With FACELOOP_FAKE_CLOCK_FILE=<file> in the environment, time(), gettimeofday() and
// clock_gettime() for the realtime clocks return the real time plus the whole number of
// seconds written in <file> (read again at most once a second, so a test moves every process
// it started forward by rewriting one file). The monotonic clocks are left alone: timers,
// timeouts and event loops run at their real pace. Everything that reads the wall clock
// through libc sees the same time: Foundation's Date, BoringSSL's certificate checks, SQLite.
//
// LD_PRELOAD interposition is Linux's; elsewhere the library is empty.
#if defined(__linux__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static _Atomic long long offset_seconds = 0;
static _Atomic long long offset_read_at = -1;

static clock_gettime_fn real_clock_gettime(void) {
    static _Atomic(clock_gettime_fn) real = NULL;
    clock_gettime_fn found = atomic_load(&real);
    if (found == NULL) {
        found = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        atomic_store(&real, found);
    }
    return found;
}

// The offset, read from the file when the last read is a second old or more (a race between
// threads reads the file twice, which is harmless).
static long long current_offset(void) {
    const char *path = getenv("FACELOOP_FAKE_CLOCK_FILE");
    if (path == NULL) return 0;
    struct timespec now;
    if (real_clock_gettime()(CLOCK_MONOTONIC, &now) != 0) return atomic_load(&offset_seconds);
    long long last = atomic_load(&offset_read_at);
    if (last >= 0 && now.tv_sec - last < 1) return atomic_load(&offset_seconds);
    int descriptor = open(path, O_RDONLY | O_CLOEXEC);
    if (descriptor >= 0) {
        char text[32] = {0};
        ssize_t count = read(descriptor, text, sizeof text - 1);
        close(descriptor);
        if (count > 0) atomic_store(&offset_seconds, strtoll(text, NULL, 10));
    }
    atomic_store(&offset_read_at, (long long)now.tv_sec);
    return atomic_load(&offset_seconds);
}

static int is_wall_clock(clockid_t clock) {
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE;
}

int clock_gettime(clockid_t clock, struct timespec *time) {
    int result = real_clock_gettime()(clock, time);
    if (result == 0 && time != NULL && is_wall_clock(clock)) time->tv_sec += current_offset();
    return result;
}

int gettimeofday(struct timeval *restrict time, void *restrict zone) {
    (void)zone;
    struct timespec now;
    int result = clock_gettime(CLOCK_REALTIME, &now);
    if (result == 0 && time != NULL) {
        time->tv_sec = now.tv_sec;
        time->tv_usec = now.tv_nsec / 1000;
    }
    return result;
}

time_t time(time_t *out) {
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) return (time_t)-1;
    if (out != NULL) *out = now.tv_sec;
    return now.tv_sec;
}
#endif
