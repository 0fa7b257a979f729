#include "server/job_watch.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace nt::server {

namespace {

using Json = nlohmann::json;

std::string rank_subject(int rank) { return "rank " + std::to_string(rank); }
std::string link_subject(int from, int to) { return "link " + std::to_string(from) + ">" + std::to_string(to); }

// What a finding on `rank` carries of the rank's process, from the job's answer.
JobFinding about_rank(const std::string& job, const Json& rank, const std::string& kind) {
  JobFinding finding;
  finding.job = job;
  finding.kind = kind;
  finding.rank = rank.value("rank", -1);
  finding.subject = rank_subject(finding.rank);
  finding.host = rank.value("host", "");
  if (rank.contains("process") && rank["process"].is_number_integer()) finding.process = rank["process"].get<int64_t>();
  finding.tgid = rank.value("pid", 0u);
  finding.netns = rank.value("netns", 0u);
  finding.start_ns = rank.value("start_ns", uint64_t{0});
  return finding;
}

}  // namespace

JobWatch::JobWatch(JobWatchConfig config, Named named, Ended ended)
    : config_(config), named_(std::move(named)), ended_(std::move(ended)), peers_(config.peers) {}

void JobWatch::compare(const Json& job, const std::string& metric, const detect::PeerScale& scale,
                       const std::map<std::string, double>& values, const std::map<std::string, JobFinding>& subjects,
                       double now, std::set<std::string>& departing, const std::set<std::string>& inhibited) {
  const std::string name = job["job"].get<std::string>();
  for (const auto& found : peers_.update(name, metric, scale, now, values, inhibited)) {
    if (found.held) {
      inhibited_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    auto subject = subjects.find(found.member);
    if (subject == subjects.end()) continue;
    JobFinding finding = subject->second;
    finding.metric = metric;
    finding.value = found.value;
    finding.peers_median = found.peers_median;
    finding.score = std::fabs(found.value - found.peers_median) / std::max(std::fabs(found.peers_median), 1e-9);
    finding.since = found.since_ts;
    finding.ts = now;
    ongoing_[name][found.member + "/" + metric] = {named_(finding), finding};
  }
  for (const auto& still : peers_.ongoing())
    if (still.group == name && still.metric == metric) departing.insert(still.member + "/" + metric);
}

void JobWatch::observe(const Json& job, double now) {
  if (!job.contains("job") || !job["job"].is_string() || !job.contains("ranks")) return;
  const std::string name = job["job"].get<std::string>();
  const Json& ranks = job["ranks"];
  const Json links = job.value("links", Json::array());
  std::set<std::string> departing;

  // Ranks' values.
  std::map<std::string, JobFinding> rank_findings, link_findings;
  std::map<int, const Json*> by_rank;
  std::map<std::string, double> absent, runq, io;
  for (const auto& rank : ranks) {
    const int number = rank.value("rank", -1);
    if (number < 0) continue;
    const std::string subject = rank_subject(number);
    by_rank[number] = &rank;
    rank_findings[subject] = about_rank(name, rank, "straggler");
    if (rank.contains("runq_share")) runq[subject] = rank["runq_share"].get<double>();
    if (rank.contains("absent_share")) absent[subject] = rank["absent_share"].get<double>();
    if (rank.contains("io_bytes_per_s")) io[subject] = rank["io_bytes_per_s"].get<double>();
  }
  // Links, one by one.
  std::map<std::string, double> srtt, retransmits, throughput;
  std::map<int, double> best_srtt, fewest_retransmits;  // per rank, over the data links that touch it
  double busiest = 0;
  for (const auto& link : links) busiest = std::max(busiest, link.value("bytes_per_s", 0.0));
  std::map<std::string, JobFinding> rank_link_findings;
  for (const auto& link : links) {
    const int from = link.value("from_rank", -1), to = link.value("to_rank", -1);
    if (!by_rank.count(from) || !by_rank.count(to)) continue;
    const std::string subject = link_subject(from, to);
    JobFinding finding = about_rank(name, *by_rank[to], "slow_link");
    finding.rank = -1;
    finding.from_rank = from;
    finding.to_rank = to;
    finding.subject = subject;
    link_findings[subject] = finding;
    const double rate = link.value("retransmits_per_s", 0.0);
    retransmits[subject] = rate;
    // Only links that carry the job's data: a link with control messages only is no peer of theirs.
    if (busiest > 0 && link.value("bytes_per_s", 0.0) >= 0.1 * busiest)
      throughput[subject] = link["bytes_per_s"].get<double>();
    // A link with little on it waits for delayed acknowledgements: its RTT says nothing of the path.
    if (!throughput.count(subject)) continue;
    for (int end : {from, to}) {
      auto [fewest, fresh] = fewest_retransmits.emplace(end, rate);
      if (!fresh) fewest->second = std::min(fewest->second, rate);
    }
    if (!link.contains("srtt_us")) continue;
    const double rtt = link["srtt_us"].get<double>();
    srtt[subject] = rtt;
    for (int end : {from, to}) {
      auto [best, fresh] = best_srtt.emplace(end, rtt);
      if (!fresh) best->second = std::min(best->second, rtt);
    }
  }
  // Measured on a bridge under load: data links' RTT up to ~5 ms and a few retransmits a second with
  // no fault; a rate limit (tbf) adds 20-35 ms.
  compare(job, "srtt_us", {true, 8000, 3}, srtt, link_findings, now, departing);
  compare(job, "retransmits_per_s", {true, 10, 0}, retransmits, link_findings, now, departing);
  compare(job, "bytes_per_s", {false, 65536, 4}, throughput, link_findings, now, departing);

  // Every link of one rank: its best link against the other ranks' best.
  std::map<std::string, double> rank_srtt, rank_retransmits;
  const auto links_of = [&](int rank) {
    const std::string subject = "links of " + rank_subject(rank);
    JobFinding finding = about_rank(name, *by_rank[rank], "slow_link");
    finding.subject = subject;
    rank_link_findings[subject] = finding;
    return subject;
  };
  for (const auto& [rank, rtt] : best_srtt) rank_srtt[links_of(rank)] = rtt;
  for (const auto& [rank, rate] : fewest_retransmits) rank_retransmits[links_of(rank)] = rate;
  compare(job, "rank_srtt_us", {true, 8000, 3}, rank_srtt, rank_link_findings, now, departing);
  compare(job, "rank_retransmits_per_s", {true, 10, 0}, rank_retransmits, rank_link_findings, now, departing);

  // Ranks, once the links are judged: a rank that waits on a slow link is absent from the others'
  // exchanges too, and that is the link's doing. So an ongoing slow-link finding inhibits absence
  // findings on the ranks it explains (as an Alertmanager inhibit rule would): both ends of a slow
  // link, and for "links of rank N", N and every rank with a data link to it. Run-queue and disk
  // findings are causes of their own and are never inhibited.
  std::set<std::string> waiting_on_a_link;
  for (const auto& [key, ongoing] : ongoing_[name]) {
    const JobFinding& cause = ongoing.finding;
    if (cause.kind != "slow_link" || !departing.count(key)) continue;  // named before, and still slow now
    if (cause.from_rank >= 0) {
      waiting_on_a_link.insert({rank_subject(cause.from_rank), rank_subject(cause.to_rank)});
      continue;
    }
    waiting_on_a_link.insert(rank_subject(cause.rank));
    for (const auto& link : links) {
      const int from = link.value("from_rank", -1), to = link.value("to_rank", -1);
      if (!throughput.count(link_subject(from, to))) continue;
      if (from == cause.rank) waiting_on_a_link.insert(rank_subject(to));
      if (to == cause.rank) waiting_on_a_link.insert(rank_subject(from));
    }
  }
  // Fault-free here: 0-0.18 a rank; a rank that sleeps 50 ms a step or shares its CPU with a busy
  // loop: 0.3-0.45.
  compare(job, "absent_share", {true, 0.15, 2}, absent, rank_findings, now, departing, waiting_on_a_link);
  // Fault-free here: 0.1-0.3 a rank; sharing its host's CPU with a busy loop: 1.2-1.4.
  compare(job, "runq_share", {true, 0.2, 2}, runq, rank_findings, now, departing);
  compare(job, "io_bytes_per_s", {true, 1 << 20, 3}, io, rank_findings, now, departing);

  // What was named and is back among its peers now.
  auto& named = ongoing_[name];
  for (auto it = named.begin(); it != named.end();) {
    if (departing.count(it->first)) {
      ++it;
      continue;
    }
    if (it->second.id) ended_(it->second.id, now);
    it = named.erase(it);
  }
}

void JobWatch::look(const Store& store, double now) {
  if (now - last_look_ < 1) return;
  last_look_ = now;
  Query listing;
  listing.kind = QueryKind::kJobs;
  listing.to = now;
  listing.from = now - 10 * config_.window_s;  // a job whose hosts stopped reporting it is over
  auto jobs = store.answer(listing);
  if (!jobs) return;
  std::set<std::string> seen;
  for (const auto& job : (*jobs)["jobs"]) {
    if (seen.size() >= config_.max_jobs) break;
    Query query;
    query.kind = QueryKind::kJob;
    query.job = job["name"].get<std::string>();
    query.to = now - config_.lag_s;
    query.from = query.to - config_.window_s;
    seen.insert(*query.job);
    if (auto view = store.answer(query)) observe(*view, now);
  }
  for (const auto& job : watched_)
    if (!seen.count(job)) forget(job, now);
  watched_ = std::move(seen);
}

void JobWatch::forget(const std::string& job, double now) {
  for (const auto& [key, ongoing] : ongoing_[job])
    if (ongoing.id) ended_(ongoing.id, now);
  ongoing_.erase(job);
  peers_.forget(job);
}

}  // namespace nt::server
