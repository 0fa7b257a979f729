// nt-leaker: a known heap for the heap collector's tests and benchmark.
//
//   nt-leaker [--leak N] [--block BYTES] [--churn N] [--pairs N]
//
// Writes "ready" and waits for a line on stdin. Then leak_blocks() allocates N blocks of BYTES
// with malloc and keeps them; churn() makes N rounds of every other kind of allocation (malloc of
// small and mmap-sized blocks, calloc, realloc growing a block, posix_memalign, aligned_alloc, an
// anonymous mmap) and releases each; pairs() makes N small mallocs, each freed at once (the benchmark's
// allocator-heavy loop). It writes "done <nanoseconds churn and pairs took>" and waits for
// stdin to close before exiting. Only write(2) and read(2) for I/O: stdio would allocate buffers of
// its own, which the test would see as outstanding.
//
// Built with frame pointers (the kernel walks user stacks by them) and debug information (source
// lines in the report).
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace {

void say(const char* text) {
  if (write(1, text, strlen(text)) < 0) _exit(1);
}

bool wait_line() {
  char c;
  ssize_t n;
  while ((n = read(0, &c, 1)) == 1)
    if (c == '\n') return true;
  return false;
}

constexpr long kMaxLeak = 1 << 20;
void* volatile kept[kMaxLeak];  // the leak's pointers: in static storage, not the heap

__attribute__((noinline)) void leak_blocks(long count, size_t size) {
  for (long i = 0; i < count; ++i) {
    kept[i] = malloc(size);
    memset(kept[i], 1, size);
  }
}

__attribute__((noinline)) void churn(long rounds) {
  for (long i = 0; i < rounds; ++i) {
    void* small = malloc(64 + i % 512);
    void* large = malloc(256 << 10);  // past glibc's mmap threshold: malloc maps it
    void* zeroed = calloc(16, 32);
    void* grown = realloc(nullptr, 32);
    grown = realloc(grown, 4096);
    void* aligned = nullptr;
    if (posix_memalign(&aligned, 64, 1024) != 0) _exit(1);
    void* aligned2 = aligned_alloc(256, 512);
    void* mapped = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!small || !large || !zeroed || !grown || !aligned2 || mapped == MAP_FAILED) _exit(1);
    munmap(mapped, 8192);
    free(aligned2);
    free(aligned);
    free(grown);
    free(zeroed);
    free(large);
    free(small);
  }
}

__attribute__((noinline)) void pairs(long count) {
  for (long i = 0; i < count; ++i) {
    void* block = malloc(64 + i % 512);
    if (!block) _exit(1);
    *static_cast<volatile char*>(block) = 1;
    free(block);
  }
}

}  // namespace

int main(int argc, char** argv) {
  long leak = 1000, churn_rounds = 1000, pair_count = 0;
  size_t block = 4096;
  for (int i = 1; i + 1 < argc; i += 2) {
    long value = strtol(argv[i + 1], nullptr, 10);
    if (!strcmp(argv[i], "--leak")) leak = value;
    else if (!strcmp(argv[i], "--block")) block = static_cast<size_t>(value);
    else if (!strcmp(argv[i], "--churn")) churn_rounds = value;
    else if (!strcmp(argv[i], "--pairs")) pair_count = value;
    else {
      say("nt-leaker: unknown option\n");
      return 2;
    }
  }
  if (leak < 0 || leak > kMaxLeak) {
    say("nt-leaker: --leak is 0 to 1048576\n");
    return 2;
  }
  say("ready\n");
  if (!wait_line()) return 1;
  leak_blocks(leak, block);
  timespec start{}, end{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  churn(churn_rounds);
  pairs(pair_count);
  clock_gettime(CLOCK_MONOTONIC, &end);
  char line[64];
  snprintf(line, sizeof(line), "done %lld\n",
           (end.tv_sec - start.tv_sec) * 1'000'000'000LL + (end.tv_nsec - start.tv_nsec));
  say(line);
  while (wait_line()) {
  }
  return 0;
}
