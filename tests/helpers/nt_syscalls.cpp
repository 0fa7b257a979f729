// nt-syscalls: a known mix of syscalls for the syscall collector's tests.
//
//   nt-syscalls [--getppid N] [--failing-opens N] [--sleeps N] [--sleep-ms MS] [--preads N] [--report 1]
//               [--time-sleeps 1]
//
// Makes N getppid calls, N opens of a path that does not exist (each fails with ENOENT), N
// nanosleeps of MS milliseconds, then N 4 KiB preads of its own executable (from the page cache),
// in that order, and exits 0. Nothing else of its own. With --report 1 (the benchmark), it prints
// {"elapsed_ns": ..} for the whole sequence at the end; with --time-sleeps 1, {"sleeps_us": [..]}:
// how long each nanosleep took as the program saw it (the kernel's own measure is within that).
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  long getppids = 10000, opens = 1000, sleeps = 100, sleep_ms = 10, preads = 0, report = 0, time_sleeps = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    long value = std::strtol(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--getppid")) getppids = value;
    else if (!std::strcmp(argv[i], "--failing-opens")) opens = value;
    else if (!std::strcmp(argv[i], "--sleeps")) sleeps = value;
    else if (!std::strcmp(argv[i], "--sleep-ms")) sleep_ms = value;
    else if (!std::strcmp(argv[i], "--preads")) preads = value;
    else if (!std::strcmp(argv[i], "--report")) report = value;
    else if (!std::strcmp(argv[i], "--time-sleeps")) time_sleeps = value;
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
  std::vector<long long> slept_us;
  for (long i = 0; i < sleeps; ++i) {
    timespec before{}, after{};
    if (time_sleeps) clock_gettime(CLOCK_MONOTONIC, &before);
    nanosleep(&pause, nullptr);
    if (!time_sleeps) continue;
    clock_gettime(CLOCK_MONOTONIC, &after);
    slept_us.push_back((after.tv_sec - before.tv_sec) * 1'000'000LL + (after.tv_nsec - before.tv_nsec) / 1000);
  }
  char block[4096];
  for (long i = 0; i < preads; ++i)
    if (pread(self, block, sizeof(block), 0) != static_cast<ssize_t>(sizeof(block))) return 1;
  if (time_sleeps) {
    std::printf("{\"sleeps_us\": [");
    for (size_t i = 0; i < slept_us.size(); ++i) std::printf("%s%lld", i ? ", " : "", slept_us[i]);
    std::printf("]}\n");
  }
  if (report) {
    timespec end{};
    clock_gettime(CLOCK_MONOTONIC, &end);
    std::printf("{\"elapsed_ns\": %lld}\n",
                static_cast<long long>(end.tv_sec - start.tv_sec) * 1'000'000'000LL + (end.tv_nsec - start.tv_nsec));
  }
  return 0;
}
