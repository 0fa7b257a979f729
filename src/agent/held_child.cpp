#include "agent/held_child.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <string>

namespace nt::agent {
namespace {

// Whether `pid` is asleep (in the read that holds it), from /proc/PID/stat's state field.
bool asleep(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto end_of_comm = text.rfind(')');  // the comm may hold anything, ')' too
  return end_of_comm != std::string::npos && end_of_comm + 2 < text.size() && text[end_of_comm + 2] == 'S';
}

}  // namespace

Result<HeldChild> HeldChild::spawn(const std::vector<std::string>& argv, const sigset_t& child_sigmask) {
  int go[2], exec_error[2];
  if (pipe2(go, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  if (pipe2(exec_error, O_CLOEXEC) != 0) return errno_error("pipe", errno);
  pid_t pid = fork();
  if (pid < 0) return errno_error("fork", errno);
  if (pid == 0) {
    close(go[1]);
    close(exec_error[0]);
    sigprocmask(SIG_SETMASK, &child_sigmask, nullptr);
    char byte;
    if (read(go[0], &byte, 1) != 1) _exit(127);  // the tracer went away before releasing us
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    int err = errno;
    (void)!write(exec_error[1], &err, sizeof(err));
    _exit(127);
  }
  close(go[0]);
  close(exec_error[1]);
  // Only once the child waits is it traced: what it does to get there (closing, its signal mask) is
  // the tracer's doing, not the command's. A child that is slow to get there is traced all the same.
  for (int tries = 0; tries < 200 && !asleep(pid); ++tries) usleep(5000);
  return HeldChild(pid, UniqueFd(go[1]), UniqueFd(exec_error[0]));
}

HeldChild::~HeldChild() {
  if (pid_ > 0 && !released_) {
    // Never released (the tracer failed first): it must not run untraced.
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

Status HeldChild::release() {
  char byte = 1;
  if (write(go_.get(), &byte, 1) != 1) return errno_error("releasing the command", errno);
  go_.reset();
  released_ = true;
  int err = 0;
  ssize_t n = read(exec_error_.get(), &err, sizeof(err));
  exec_error_.reset();
  if (n == static_cast<ssize_t>(sizeof(err))) return errno_error("cannot run the command", err);
  return {};
}

std::optional<int> HeldChild::poll_exit() {
  if (exit_status_) return exit_status_;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_status_;
}

void HeldChild::forward(int signal) const {
  if (!exit_status_) kill(pid_, signal);
}

}  // namespace nt::agent
