#include "collectors/net/netns_walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <set>
#include <string>

namespace nt::collectors {
namespace {

// The namespace files to look at: every process's, and the names `ip netns` keeps.
template <class Fn>
void for_each_namespace_file(Fn fn) {
  if (DIR* proc = opendir("/proc")) {
    while (dirent* entry = readdir(proc))
      if (std::isdigit(static_cast<unsigned char>(entry->d_name[0])))
        fn(std::string("/proc/") + entry->d_name + "/ns/net");
    closedir(proc);
  }
  if (DIR* named = opendir("/run/netns")) {
    while (dirent* entry = readdir(named))
      if (entry->d_name[0] != '.') fn(std::string("/run/netns/") + entry->d_name);
    closedir(named);
  }
}

}  // namespace

Result<NetnsWalker> NetnsWalker::open() {
  UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!home.valid() || fstat(home.get(), &st) != 0) return errno_error("opening this thread's network namespace", errno);
  return NetnsWalker(std::move(home), static_cast<uint32_t>(st.st_ino));
}

void NetnsWalker::refresh() {
  std::set<uint32_t> seen;
  for_each_namespace_file([&](const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return;  // the process exited meanwhile
    auto inode = static_cast<uint32_t>(st.st_ino);
    if (!seen.insert(inode).second || namespaces_.count(inode)) return;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid()) namespaces_.emplace(inode, std::move(fd));
  });
  // A namespace no process is in any more is let go (holding it would keep it alive).
  for (auto it = namespaces_.begin(); it != namespaces_.end();)
    it = seen.count(it->first) ? std::next(it) : namespaces_.erase(it);
}

void NetnsWalker::for_each(uint32_t only, const std::function<void()>& visit, uint64_t& failures) {
  refresh();
  bool away = false;
  for (const auto& [inode, fd] : namespaces_) {
    if (only && inode != only) continue;
    if (inode == home_inode_) {
      if (away && setns(home_.get(), CLONE_NEWNET) != 0) ++failures;
      away = false;
    } else if (setns(fd.get(), CLONE_NEWNET) == 0) {
      away = true;
    } else {
      ++failures;
      continue;
    }
    visit();
  }
  if (away && setns(home_.get(), CLONE_NEWNET) != 0) ++failures;
}

}  // namespace nt::collectors
