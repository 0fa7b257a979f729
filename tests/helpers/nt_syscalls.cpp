// nt-syscalls: a known mix of syscalls for the syscall collector's tests.
//
//   nt-syscalls [--getppid N] [--failing-opens N] [--sleeps N] [--sleep-ms MS]
//
// Makes N getppid calls, N opens of a path that does not exist (each fails with ENOENT), then N
// nanosleeps of MS milliseconds, in that order, and exits 0. Nothing else of its own.
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  long getppids = 10000, opens = 1000, sleeps = 100, sleep_ms = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    long value = std::strtol(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--getppid")) getppids = value;
    else if (!std::strcmp(argv[i], "--failing-opens")) opens = value;
    else if (!std::strcmp(argv[i], "--sleeps")) sleeps = value;
    else if (!std::strcmp(argv[i], "--sleep-ms")) sleep_ms = value;
    else {
      std::fprintf(stderr, "nt-syscalls: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  for (long i = 0; i < getppids; ++i) syscall(SYS_getppid);  // never cached by the C library
  for (long i = 0; i < opens; ++i)
    if (open("/nonexistent/nt-syscalls", O_RDONLY) >= 0) return 1;
  const timespec pause{sleep_ms / 1000, (sleep_ms % 1000) * 1'000'000};
  for (long i = 0; i < sleeps; ++i) nanosleep(&pause, nullptr);
  return 0;
}
