// Plain data: what a run got of each collector feature.
#pragma once

#include <string>

namespace nt::model {

// Reported once on stderr, by `doctor`, in the JSON start and summary records and as a gauge.
struct FeatureState {
  std::string name;  // "net.tcp_health"
  bool required = false;
  bool available = false;
  std::string via;     // the alternative in use
  std::string needs;   // what it uses (available) or what it would need (not)
  std::string reason;  // why it, or the alternatives tried before the one in use, were refused
};

}  // namespace nt::model
