#pragma once

#include <memory>

namespace nt::bpf {

// Sole owner of a bpftool-generated skeleton; the skeleton in turn owns its maps, programs and
// every link stored in its `links` member.
template <class Skel, void (*Destroy)(Skel*)>
struct SkeletonDeleter {
  void operator()(Skel* skel) const { Destroy(skel); }
};
template <class Skel, void (*Destroy)(Skel*)>
using SkeletonPtr = std::unique_ptr<Skel, SkeletonDeleter<Skel, Destroy>>;

}  // namespace nt::bpf
