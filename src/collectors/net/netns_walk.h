// BPF iterators over the TCP and UDP tables see the network namespace of the thread that creates
// them. This enters every namespace that holds processes (or that /run/netns names) in turn.
#pragma once

#include <cstdint>
#include <functional>
#include <map>

#include "common/result.h"
#include "common/unique_fd.h"

namespace nt::collectors {

class NetnsWalker {
 public:
  // Remembers the calling thread's own namespace, to return to after each walk.
  static Result<NetnsWalker> open();

  // Calls visit() inside each namespace (only the one with inode `only`, when nonzero), found
  // afresh from /proc and /run/netns, then returns home. A namespace that cannot be entered is
  // counted in `failures` and skipped.
  void for_each(uint32_t only, const std::function<void()>& visit, uint64_t& failures);
  size_t known() const { return namespaces_.size(); }

 private:
  explicit NetnsWalker(UniqueFd home, uint32_t home_inode) : home_(std::move(home)), home_inode_(home_inode) {}
  void refresh();

  UniqueFd home_;
  uint32_t home_inode_;
  std::map<uint32_t, UniqueFd> namespaces_;  // inode -> an open namespace file
};

}  // namespace nt::collectors
