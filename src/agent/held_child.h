// A command started for `record -- CMD`: forked, held before exec until the tracer has put its
// pid in the kernel filter (so none of its first bytes are missed), then released.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace nt::agent {

class HeldChild {
 public:
  // Forks; the child restores `child_sigmask` and waits for release() before exec. Returns once the
  // child waits (or after a second), so that tracing it from then on sees the command's calls only.
  static Result<HeldChild> spawn(const std::vector<std::string>& argv, const sigset_t& child_sigmask);
  HeldChild(HeldChild&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        go_(std::move(other.go_)),
        exec_error_(std::move(other.exec_error_)),
        released_(other.released_),
        exit_status_(other.exit_status_) {}
  HeldChild& operator=(HeldChild&&) = delete;
  ~HeldChild();

  pid_t pid() const { return pid_; }
  // Lets the child exec; fails with the exec error (e.g. command not found).
  Status release();
  // Non-blocking: the exit status once the child has ended (128 + signal when killed).
  std::optional<int> poll_exit();
  void forward(int signal) const;

 private:
  HeldChild(pid_t pid, UniqueFd go, UniqueFd exec_error) : pid_(pid), go_(std::move(go)), exec_error_(std::move(exec_error)) {}
  pid_t pid_;
  UniqueFd go_;          // write end: one byte releases the child
  UniqueFd exec_error_;  // read end: EOF when exec succeeded, an errno otherwise
  bool released_ = false;
  std::optional<int> exit_status_;
};

}  // namespace nt::agent
