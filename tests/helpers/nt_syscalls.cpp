// nt-syscalls: a known mix of syscalls for the syscall collector's tests.
//
//   nt-syscalls [--getppid N] [--failing-opens N] [--sleeps N] [--sleep-ms MS] [--preads N] [--report 1]
//
// Makes N getppid calls, N opens of a path that does not exist (each fails with ENOENT), N
// nanosleeps of MS milliseconds, then N 4 KiB preads of its own executable (from the page cache),
// in that order, and exits 0. Nothing else of its own. With --report 1 (the benchmark), it prints
// {"elapsed_ns": ..} for the whole sequence at the end.
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  long getppids = 10000, opens = 1000, sleeps = 100, sleep_ms = 10, preads = 0, report = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    long value = std::strtol(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--getppid")) getppids = value;
    else if (!std::strcmp(argv[i], "--failing-opens")) opens = value;
    else if (!std::strcmp(argv[i], "--sleeps")) sleeps = value;
    else if (!std::strcmp(argv[i], "--sleep-ms")) sleep_ms = value;
    else if (!std::strcmp(argv[i], "--preads")) preads = value;
    else if (!std::strcmp(argv[i], "--report")) report = value;
    else {
      std::fprintf(stderr, "nt-syscalls: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  int self = preads ? open("/proc/self/exe", O_RDONLY) : -1;
  if (preads && self < 0) return 1;
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long i = 0; i < getppids; ++i) syscall(SYS_getppid);  // never cached by the C library
  for (long i = 0; i < opens; ++i)
    if (open("/nonexistent/nt-syscalls", O_RDONLY) >= 0) return 1;
  const timespec pause{sleep_ms / 1000, (sleep_ms % 1000) * 1'000'000};
  for (long i = 0; i < sleeps; ++i) nanosleep(&pause, nullptr);
  char block[4096];
  for (long i = 0; i < preads; ++i)
    if (pread(self, block, sizeof(block), 0) != static_cast<ssize_t>(sizeof(block))) return 1;
  if (report) {
    timespec end{};
    clock_gettime(CLOCK_MONOTONIC, &end);
    std::printf("{\"elapsed_ns\": %lld}\n",
                static_cast<long long>(end.tv_sec - start.tv_sec) * 1'000'000'000LL + (end.tv_nsec - start.tv_nsec));
  }
  return 0;
}
