#include "peers.h"

#include <algorithm>
#include <cmath>

namespace nt::detect {

namespace {

double median(std::vector<double> values) {
  const size_t middle = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle), values.end());
  const double upper = values[middle];
  if (values.size() % 2) return upper;
  return (upper + *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle))) / 2;
}

}  // namespace

std::vector<PeerFinding> PeerWatch::update(const std::string& group, const std::string& metric,
                                           const PeerScale& scale, double ts,
                                           const std::map<std::string, double>& values,
                                           const std::set<std::string>& held) {
  std::vector<PeerFinding> named;
  for (const auto& [member, value] : values) {
    auto& episode = episodes_[{group, metric, member}];
    bool departs = false;
    double peers_median = 0;
    if (values.size() >= config_.min_members && std::isfinite(value)) {
      std::vector<double> others;
      for (const auto& [other, v] : values)
        if (other != member && std::isfinite(v)) others.push_back(v);
      peers_median = median(others);
      std::vector<double> deviations;
      for (double v : others) deviations.push_back(std::fabs(v - peers_median));
      const double spread = 1.4826 * median(deviations);
      const double worse_by = scale.higher_is_worse ? value - peers_median : peers_median - value;
      departs = worse_by > 0 && worse_by >= scale.min_difference && worse_by >= config_.min_z * spread;
      if (departs && scale.min_ratio > 0 && peers_median > 0) {
        const double ratio = scale.higher_is_worse ? value / peers_median : peers_median / std::max(value, 1e-300);
        departs = ratio >= scale.min_ratio;
      }
    }
    if (!departs) {
      episode = Episode{};
      continue;
    }
    if (episode.run++ == 0) episode.latest.since_ts = ts;
    episode.latest.group = group;
    episode.latest.member = member;
    episode.latest.metric = metric;
    episode.latest.value = value;
    episode.latest.peers_median = peers_median;
    if (episode.run < config_.persist || episode.named) continue;
    if (held.count(member)) {
      if (!episode.held) {
        episode.held = true;
        named.push_back(episode.latest);
        named.back().held = true;
      }
      continue;
    }
    episode.named = true;
    named.push_back(episode.latest);
  }
  return named;
}

std::vector<PeerFinding> PeerWatch::ongoing() const {
  std::vector<PeerFinding> out;
  for (const auto& [key, episode] : episodes_)
    if (episode.named) out.push_back(episode.latest);
  return out;
}

void PeerWatch::forget(const std::string& group) {
  std::erase_if(episodes_, [&](const auto& entry) { return std::get<0>(entry.first) == group; });
}

}  // namespace nt::detect
