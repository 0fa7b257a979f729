// Kernels differ: a collector's BPF programs are grouped into features, each with alternatives
// (the same thing done through other hooks), and the kernel decides which load. A refused optional
// feature costs that feature only; a refused required one stops the collector with one line naming
// what the kernel lacks.
#pragma once

#include <bpf/libbpf.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/features.h"

namespace nt::bpf {

// One way to provide a feature: programs that load (and attach) together.
struct Alternative {
  std::string id;     // short, stable: reports and NEUTRACER_REFUSE name it ("tp", "fexit")
  std::string needs;  // the kernel feature it uses, in words
  std::vector<std::string> programs;
};

// The first alternative the kernel accepts wins.
struct Feature {
  std::string name;  // "tcp_health"; reported as "<collector>.<name>"
  bool required = false;
  std::vector<Alternative> alternatives;
};

// Which alternative of each feature is loaded; -1 for none.
using Selection = std::vector<int>;

// NEUTRACER_REFUSE=net.tcp_health,net.live_sockets/storage_iter: the named features (or one
// alternative) are loaded with a program flag the kernel rejects (EINVAL at BPF_PROG_LOAD), so that
// the agent meets a refusal exactly where a kernel would give one. For tests and for users who want
// a feature off.
class Refusals {
 public:
  static Refusals from_environment();
  explicit Refusals(const std::string& spec);
  bool refuses(const std::string& feature, const std::string& alternative) const;

 private:
  std::set<std::string> names_;
};

// The one line worth showing from a failed load's libbpf and verifier messages.
std::string load_failure_reason(const std::string& log, int error);

// Chooses the alternatives: everything first (one load where the kernel takes all), and where that
// fails, each feature's alternatives alone, in order. `try_load(selection, keep)` loads the object
// with that selection and returns "" on success (keeping it loaded only when `keep`), else the reason.
Result<Selection> choose_alternatives(const std::string& collector, const std::vector<Feature>& features,
                                      const Refusals& refusals,
                                      const std::function<std::string(const Selection&, bool keep)>& try_load,
                                      std::vector<model::FeatureState>& states);

// Sets autoload (and the refusal flag) on every program of the object from a selection. Every
// program must belong to one feature's alternative: an unlisted one is an error.
Status apply_selection(bpf_object* object, const std::string& collector, const std::vector<Feature>& features,
                       const Selection& selection, const Refusals& refusals);

// Owns links; destroys them in reverse order.
class Links {
 public:
  Links() = default;
  Links(const Links&) = delete;
  Links& operator=(const Links&) = delete;
  ~Links() { clear(); }
  void add(bpf_link* link) { links_.push_back(link); }
  void clear();

 private:
  std::vector<bpf_link*> links_;
};

// Attaches a loaded feature's programs (iterators excepted: their users attach them); cgroup
// programs to `cgroup_fd`. On failure nothing of the feature stays attached.
Status attach_programs(bpf_object* object, const Alternative& alternative, int cgroup_fd, Links& links);

// A BPF skeleton loaded with the features the kernel accepts. Skel is a bpftool skeleton type.
template <class Skel>
struct SkeletonOps {
  Skel* (*open)();
  int (*load)(Skel*);
  void (*destroy)(Skel*);
};

template <class Skel>
class FeatureObject {
 public:
  // `configure` sets rodata, map sizes and shared map fds on a freshly opened skeleton.
  static Result<std::unique_ptr<FeatureObject>> load(const std::string& collector, std::vector<Feature> features,
                                                     SkeletonOps<Skel> ops,
                                                     const std::function<Status(Skel&)>& configure) {
    std::unique_ptr<FeatureObject> object(new FeatureObject(collector, std::move(features), ops));
    const Refusals refusals = Refusals::from_environment();
    Status configured;
    auto try_load = [&](const Selection& selection, bool keep) -> std::string {
      Skel* skel = ops.open();
      if (!skel) return "opening the BPF object failed";
      if (configured = configure(*skel); !configured) {
        ops.destroy(skel);
        return configured.error().message;
      }
      if (auto applied = apply_selection(skel->obj, collector, object->features_, selection, refusals); !applied) {
        ops.destroy(skel);
        configured = applied;
        return applied.error().message;
      }
      std::string reason = load_capturing_log(skel, ops.load);
      if (!reason.empty() || !keep) {
        ops.destroy(skel);
        return reason;
      }
      object->skel_ = skel;
      return "";
    };
    auto chosen = choose_alternatives(collector, object->features_, refusals, try_load, object->states_);
    if (!configured) return configured.error();  // not the kernel: our own setup failed
    if (!chosen) return chosen.error();
    object->selection_ = chosen.value();
    return object;
  }

  ~FeatureObject() {
    links_.clear();
    ops_.destroy(skel_);
  }
  FeatureObject(const FeatureObject&) = delete;
  FeatureObject& operator=(const FeatureObject&) = delete;

  Skel& skel() { return *skel_; }
  const Skel& skel() const { return *skel_; }
  // The alternative in use for a feature, or "" when it is not available.
  std::string via(const std::string& feature) const {
    for (size_t i = 0; i < features_.size(); ++i)
      if (features_[i].name == feature && selection_[i] >= 0) return features_[i].alternatives[selection_[i]].id;
    return "";
  }
  bool has(const std::string& feature) const { return !via(feature).empty(); }

  // Attaches an iterator program; the link stays with the object's. The value is for bpf_iter_create.
  Result<bpf_link*> attach_iterator(bpf_program* program) {
    bpf_link* link = bpf_program__attach_iter(program, nullptr);
    if (!link) return errno_error(std::string("attaching the iterator ") + bpf_program__name(program), errno);
    links_.add(link);
    return link;
  }

  // Attaches every available feature; an optional one that fails to attach is dropped and reported.
  Status attach(int cgroup_fd) {
    for (size_t i = 0; i < features_.size(); ++i) {
      if (selection_[i] < 0) continue;
      const auto& alternative = features_[i].alternatives[selection_[i]];
      if (auto attached = attach_programs(skel_->obj, alternative, cgroup_fd, links_); !attached) {
        if (features_[i].required) return Error{states_[i].name + ": " + attached.error().message};
        selection_[i] = -1;
        states_[i].available = false;
        states_[i].reason = attached.error().message;
      }
    }
    return {};
  }
  // Marks an available feature unusable after all (an iterator its user could not attach).
  void drop(const std::string& feature, const std::string& reason) {
    for (size_t i = 0; i < features_.size(); ++i)
      if (features_[i].name == feature) {
        selection_[i] = -1;
        states_[i].available = false;
        states_[i].reason = reason;
      }
  }
  const std::vector<model::FeatureState>& states() const { return states_; }

 private:
  FeatureObject(std::string collector, std::vector<Feature> features, SkeletonOps<Skel> ops)
      : collector_(std::move(collector)), features_(std::move(features)), ops_(ops) {}

  static std::string load_capturing_log(Skel* skel, int (*load)(Skel*));

  std::string collector_;
  std::vector<Feature> features_;
  SkeletonOps<Skel> ops_;
  Skel* skel_ = nullptr;
  Selection selection_;
  std::vector<model::FeatureState> states_;
  Links links_;
};

// libbpf's messages during `load`, for the reason of a refusal (still printed with -v).
std::string capture_libbpf_log(const std::function<int()>& load, int& error);

template <class Skel>
std::string FeatureObject<Skel>::load_capturing_log(Skel* skel, int (*load)(Skel*)) {
  int error = 0;
  std::string log = capture_libbpf_log([&] { return load(skel); }, error);
  return error ? load_failure_reason(log, error) : "";
}

}  // namespace nt::bpf
