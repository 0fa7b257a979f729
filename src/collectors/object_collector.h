// What every collector with one BPF object shares: its features and its programs' costs come from
// the object it owns.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "bpf_runtime/features.h"
#include "bpf_runtime/prog_stats.h"
#include "collectors/collector.h"

namespace nt::collectors {

template <class Skel>
class ObjectCollector : public Collector {
 public:
  explicit ObjectCollector(std::unique_ptr<bpf::FeatureObject<Skel>> object) : object_(std::move(object)) {}
  std::vector<model::FeatureState> features() const override { return object_->states(); }
  std::vector<model::ProgramStats> program_stats() const override {
    return bpf::read_program_stats(object_->skel().obj);
  }

 protected:
  std::unique_ptr<bpf::FeatureObject<Skel>> object_;
};

}  // namespace nt::collectors
