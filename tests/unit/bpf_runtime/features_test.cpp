// How alternatives are chosen and how a refusal is worded, without a kernel: the loader's choices
// are driven by a stand-in for the kernel that refuses named programs.
#include "bpf_runtime/features.h"

#include <gtest/gtest.h>

#include <set>

namespace nt::bpf {
namespace {

std::vector<Feature> sample_features() {
  return {
      {"accounting", true, {{"tp", "tracepoints", {"count_tp"}}, {"fexit", "fexit", {"count_fexit"}}}},
      {"live", false, {{"a", "reader a", {"read_a"}}, {"b", "reader b", {"read_b1", "read_b2"}}}},
      {"health", false, {{"tp", "health tracepoints", {"health"}}}},
  };
}

// A kernel that refuses some programs; it records every selection it was asked to load.
struct FakeKernel {
  std::set<std::string> refused;
  std::vector<Selection> loads;

  std::string load(const std::vector<Feature>& features, const Selection& selection) {
    loads.push_back(selection);
    for (size_t i = 0; i < features.size(); ++i) {
      if (selection[i] < 0) continue;
      for (const auto& program : features[i].alternatives[selection[i]].programs)
        if (refused.count(program)) return program + ": refused";
    }
    return "";
  }
};

Result<Selection> choose(FakeKernel& kernel, std::vector<model::FeatureState>& states, const std::string& refuse = "") {
  auto features = sample_features();
  return choose_alternatives("net", features, Refusals(refuse),
                             [&](const Selection& s, bool) { return kernel.load(features, s); }, states);
}

TEST(Features, OneLoadWhenTheKernelTakesEverything) {
  FakeKernel kernel;
  std::vector<model::FeatureState> states;
  auto chosen = choose(kernel, states);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen.value(), (Selection{0, 0, 0}));
  EXPECT_EQ(kernel.loads.size(), 1u);
  for (const auto& state : states) EXPECT_TRUE(state.available) << state.name;
  EXPECT_EQ(states[0].name, "net.accounting");
}

TEST(Features, ARefusedAlternativeFallsBackAndARefusedOptionalFeatureIsDropped) {
  FakeKernel kernel{{"count_tp", "read_b2", "health"}, {}};
  std::vector<model::FeatureState> states;
  auto chosen = choose(kernel, states);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen.value(), (Selection{1, 0, -1}));
  EXPECT_EQ(states[0].via, "fexit");
  EXPECT_EQ(states[0].reason, "tp: count_tp: refused");
  EXPECT_TRUE(states[1].available);
  EXPECT_FALSE(states[2].available);
  EXPECT_EQ(states[2].needs, "health tracepoints");
  EXPECT_EQ(states[2].reason, "tp: health: refused");
  EXPECT_EQ(kernel.loads.back(), chosen.value());  // the final load has exactly the choice
}

TEST(Features, ARefusedRequiredFeatureIsAnErrorNamingEveryAlternative) {
  FakeKernel kernel{{"count_tp", "count_fexit"}, {}};
  std::vector<model::FeatureState> states;
  auto chosen = choose(kernel, states);
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.error().message,
            "net.accounting needs tracepoints or fexit, which this kernel refused "
            "(tp: count_tp: refused; fexit: count_fexit: refused)");
}

TEST(Features, RefusalsNameAFeatureOrOneAlternative) {
  Refusals refusals(" net.health , net.live/a");
  EXPECT_TRUE(refusals.refuses("net.health", "tp"));
  EXPECT_TRUE(refusals.refuses("net.live", "a"));
  EXPECT_FALSE(refusals.refuses("net.live", "b"));
  EXPECT_FALSE(refusals.refuses("net.accounting", "tp"));
  EXPECT_FALSE(Refusals("").refuses("net.health", "tp"));
}

TEST(Features, ReasonIsTheVerifiersLastWord) {
  const std::string log =
      "libbpf: prog 'count_send': skipped loading\n"
      "libbpf: prog 'count_retransmit': BPF program load failed: Permission denied\n"
      "libbpf: prog 'count_retransmit': -- BEGIN PROG LOAD LOG --\n"
      "func 'tcp_retransmit_skb' doesn't have 3-th argument\n"
      "invalid bpf_context access off=16 size=8\n"
      "processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"
      "-- END PROG LOAD LOG --\n"
      "libbpf: failed to load object 'net_accounting'\n";
  EXPECT_EQ(load_failure_reason(log, -13), "count_retransmit: invalid bpf_context access off=16 size=8");
}

TEST(Features, ReasonFromLibbpfWhenNothingWasLoaded) {
  const std::string log =
      "libbpf: prog 'count_send': failed to find kernel BTF type ID of 'sock_send_length': -3\n"
      "libbpf: prog 'count_send': failed to prepare load attributes: -3\n";
  EXPECT_EQ(load_failure_reason(log, -3), "count_send: failed to find kernel BTF type ID of 'sock_send_length': -3");
  EXPECT_EQ(load_failure_reason("", -1), "Operation not permitted");
}

}  // namespace
}  // namespace nt::bpf
