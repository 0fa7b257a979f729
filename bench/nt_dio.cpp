// 4 KiB O_DIRECT reads at random 4 KiB-aligned offsets, one at a time: the block-I/O bench's worst
// case for per-request cost (bench/sched_io.py). The page cache never serves them (O_DIRECT), so
// every read is one request through the block layer.
//   nt-dio PATH SECONDS     prints {"ops":N,"elapsed_ns":T,"ops_per_s":R,"bytes":B}
// PATH is a block device or a regular file; its size bounds the offsets.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr size_t kBlock = 4096;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "nt-dio: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t size_of(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) die("fstat");
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  uint64_t bytes = 0;
  if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) die("BLKGETSIZE64");
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: nt-dio PATH SECONDS\n");
    return 2;
  }
  const double seconds = std::atof(argv[2]);
  const int fd = open(argv[1], O_RDONLY | O_DIRECT);
  if (fd < 0) die(std::string("open ") + argv[1]);
  const uint64_t blocks = size_of(fd) / kBlock;
  if (blocks == 0) {
    std::fprintf(stderr, "nt-dio: %s holds no whole 4 KiB block\n", argv[1]);
    return 1;
  }
  void* buffer = std::aligned_alloc(kBlock, kBlock);
  if (buffer == nullptr) die("aligned_alloc");

  uint64_t state = 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(getpid());  // xorshift64
  const uint64_t start = now_ns(), end = start + static_cast<uint64_t>(seconds * 1e9);
  uint64_t ops = 0, now = start;
  while (now < end) {
    for (int i = 0; i < 64; ++i) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      const off_t offset = static_cast<off_t>((state % blocks) * kBlock);
      if (pread(fd, buffer, kBlock, offset) != static_cast<ssize_t>(kBlock)) die("pread");
      ++ops;
    }
    now = now_ns();
  }
  const uint64_t took = now - start;
  std::printf("{\"ops\":%llu,\"elapsed_ns\":%llu,\"ops_per_s\":%.1f,\"bytes\":%llu}\n",
              static_cast<unsigned long long>(ops), static_cast<unsigned long long>(took),
              static_cast<double>(ops) * 1e9 / static_cast<double>(took),
              static_cast<unsigned long long>(ops * kBlock));
  std::free(buffer);
  close(fd);
  return 0;
}
