// nt-sched: CPU-scheduling workloads for the tests, each reporting what the kernel itself counted.
//   nt-sched spin SECONDS                 burn one CPU
//   nt-sched sleep COUNT USEC [THREADS]   THREADS threads (default 1) sleep COUNT times in all
//   nt-sched pingpong ROUNDS              two processes wake each other over pipes
//   nt-sched sleep-then-spin COUNT USEC SECONDS   sleep, then burn one CPU
// At the end one JSON line: the kernel's accounting of this process (every thread) from
// /proc/thread-self/{schedstat,status}; for sleep, also the time measured around the sleeps and
// what the kernel says the sleeping loops ran.
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct KernelCounts {
  unsigned long long on_cpu_ns = 0, run_delay_ns = 0, voluntary = 0, involuntary = 0;
  void add(const KernelCounts& more) {
    on_cpu_ns += more.on_cpu_ns;
    run_delay_ns += more.run_delay_ns;
    voluntary += more.voluntary;
    involuntary += more.involuntary;
  }
};

// One thread's own accounting, from /proc/thread-self.
KernelCounts thread_counts() {
  KernelCounts k;
  std::ifstream schedstat("/proc/thread-self/schedstat");
  schedstat >> k.on_cpu_ns >> k.run_delay_ns;
  std::ifstream status("/proc/thread-self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) k.voluntary = std::stoull(line.substr(24));
    if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) k.involuntary = std::stoull(line.substr(27));
  }
  return k;
}

void report(const KernelCounts& k, const std::string& extra) {
  std::printf(
      "{\"pid\":%d,\"on_cpu_ns\":%llu,\"run_delay_ns\":%llu,\"voluntary_switches\":%llu,"
      "\"involuntary_switches\":%llu%s}\n",
      getpid(), k.on_cpu_ns, k.run_delay_ns, k.voluntary, k.involuntary, extra.c_str());
  std::fflush(stdout);
}

int spin(double seconds) {
  const uint64_t end = now_ns() + static_cast<uint64_t>(seconds * 1e9);
  volatile uint64_t sink = 0;
  while (now_ns() < end)
    for (int i = 0; i < 1000; ++i) sink = sink + static_cast<uint64_t>(i);
  report(thread_counts(), "");
  return 0;
}

// Each thread reads its own accounting as it ends: once a thread is gone, /proc no longer shows it.
// One thread sleeps in the main thread itself, so that the process is off CPU only in its sleeps.
int sleep_many(long count, long usec, int threads) {
  std::atomic<uint64_t> slept_ns{0}, loop_on_cpu_ns{0};
  std::vector<KernelCounts> ended(static_cast<size_t>(threads));
  auto sleeper = [&](int t) {
    const long mine = count / threads + (t < count % threads ? 1 : 0);
    timespec pause{usec / 1'000'000, (usec % 1'000'000) * 1000};
    // Slept: measured around each sleep, so it also holds what the thread ran inside the call
    // (entry, exit, timer setup); that is at most what the kernel says the loop ran.
    const KernelCounts before = thread_counts();
    uint64_t slept = 0;
    for (long i = 0; i < mine; ++i) {
      const uint64_t asleep = now_ns();
      nanosleep(&pause, nullptr);
      slept += now_ns() - asleep;
    }
    ended[static_cast<size_t>(t)] = thread_counts();
    slept_ns += slept;
    loop_on_cpu_ns += ended[static_cast<size_t>(t)].on_cpu_ns - before.on_cpu_ns;
  };
  KernelCounts all;
  if (threads == 1) {
    sleeper(0);
    all = ended[0];
  } else {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) workers.emplace_back(sleeper, t);
    for (auto& worker : workers) worker.join();
    all = thread_counts();
    for (const auto& k : ended) all.add(k);
  }
  report(all, ",\"slept_ns\":" + std::to_string(slept_ns.load()) +
                  ",\"loop_on_cpu_ns\":" + std::to_string(loop_on_cpu_ns.load()) +
                  ",\"sleeps\":" + std::to_string(count) + ",\"threads\":" + std::to_string(threads));
  return 0;
}

// Two processes take turns: each round is a write and a blocking read on each side.
int pingpong(long rounds) {
  int there[2], back[2];
  if (pipe(there) != 0 || pipe(back) != 0) return 1;
  pid_t child = fork();
  if (child < 0) return 1;
  char byte = 'x';
  if (child == 0) {
    for (long i = 0; i < rounds; ++i) {
      if (read(there[0], &byte, 1) != 1 || write(back[1], &byte, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  const uint64_t start = now_ns();
  for (long i = 0; i < rounds; ++i) {
    if (write(there[1], &byte, 1) != 1 || read(back[0], &byte, 1) != 1) return 1;
  }
  const uint64_t took = now_ns() - start;
  int status = 0;
  waitpid(child, &status, 0);
  report(thread_counts(), ",\"rounds\":" + std::to_string(rounds) + ",\"elapsed_ns\":" + std::to_string(took));
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "spin" && argc == 3) return spin(std::atof(argv[2]));
  if (mode == "sleep" && (argc == 4 || argc == 5))
    return sleep_many(std::atol(argv[2]), std::atol(argv[3]), argc == 5 ? std::atoi(argv[4]) : 1);
  if (mode == "pingpong" && argc == 3) return pingpong(std::atol(argv[2]));
  if (mode == "sleep-then-spin" && argc == 5) {  // a quiet process that starts burning a CPU
    sleep_many(std::atol(argv[2]), std::atol(argv[3]), 1);
    return spin(std::atof(argv[4]));
  }
  std::fprintf(stderr,
               "usage: nt-sched spin SECONDS | sleep COUNT USEC [THREADS] | pingpong ROUNDS | "
               "sleep-then-spin COUNT USEC SECONDS\n");
  return 2;
}
