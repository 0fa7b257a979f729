#include "bpf_runtime/features.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "bpf_runtime/libbpf_log.h"

namespace nt::bpf {
namespace {

// A program flag no kernel defines: BPF_PROG_LOAD fails with EINVAL on it.
constexpr __u32 kRefusedFlag = 1u << 31;

std::string trim(const std::string& line) {
  size_t begin = line.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = line.find_last_not_of(" \t\r\n");
  return line.substr(begin, end - begin + 1);
}

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

// Verifier statistics and summaries that say nothing about why.
bool is_verifier_noise(const std::string& line) {
  return line.empty() || starts_with(line, "processed ") || starts_with(line, "verification time") ||
         starts_with(line, "stack depth") || starts_with(line, "mark_precise") || starts_with(line, "; ");
}

Selection none_of(size_t count) { return Selection(count, -1); }

}  // namespace

Refusals Refusals::from_environment() {
  const char* spec = std::getenv("NEUTRACER_REFUSE");
  return Refusals(spec ? spec : "");
}

Refusals::Refusals(const std::string& spec) {
  std::istringstream items(spec);
  std::string item;
  while (std::getline(items, item, ',')) {
    item = trim(item);
    if (!item.empty()) names_.insert(item);
  }
}

bool Refusals::refuses(const std::string& feature, const std::string& alternative) const {
  return names_.count(feature) > 0 || names_.count(feature + "/" + alternative) > 0;
}

std::string load_failure_reason(const std::string& log, int error) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    line = trim(line);
    if (starts_with(line, "libbpf: ")) line = line.substr(8);
    lines.push_back(line);
  }
  // The program that failed names itself: "prog 'NAME': BPF program load failed: ...".
  std::string program;
  for (const auto& line : lines) {
    auto at = line.find("prog '");
    if (at == std::string::npos || line.find("failed") == std::string::npos) continue;  // not "skipped loading"
    auto end = line.find('\'', at + 6);
    if (end != std::string::npos) {
      program = line.substr(at + 6, end - at - 6);
      break;
    }
  }
  std::string why;
  // The verifier's last word before the end of its log.
  for (size_t i = 0; i < lines.size() && why.empty(); ++i) {
    if (lines[i].find("-- END PROG LOAD LOG --") == std::string::npos) continue;
    for (size_t j = i; j-- > 0;) {
      if (lines[j].find("-- BEGIN PROG LOAD LOG --") != std::string::npos) break;
      if (!is_verifier_noise(lines[j])) {
        why = lines[j];
        break;
      }
    }
  }
  // libbpf's own refusals, before any load (a hook missing from the kernel's BTF).
  if (why.empty())
    for (const auto& line : lines)
      if (line.find("failed to find") != std::string::npos || line.find("failed to resolve") != std::string::npos) {
        why = line.substr(line.find("failed to"));
        break;
      }
  if (why.empty()) why = std::strerror(error < 0 ? -error : error);
  return program.empty() ? why : program + ": " + why;
}

Result<Selection> choose_alternatives(const std::string& collector, const std::vector<Feature>& features,
                                      const Refusals& refusals,
                                      const std::function<std::string(const Selection&, bool keep)>& try_load,
                                      std::vector<model::FeatureState>& states) {
  states.clear();
  for (const auto& feature : features)
    states.push_back({collector + "." + feature.name, feature.required, false, "", "", ""});
  auto mark = [&](const Selection& selection) {
    for (size_t i = 0; i < features.size(); ++i) {
      states[i].available = selection[i] >= 0;
      if (selection[i] >= 0) {
        states[i].via = features[i].alternatives[selection[i]].id;
        states[i].needs = features[i].alternatives[selection[i]].needs;
      }
    }
  };

  // The kernel usually takes everything: one load.
  Selection first = none_of(features.size());
  for (size_t i = 0; i < features.size(); ++i) first[i] = features[i].alternatives.empty() ? -1 : 0;
  if (try_load(first, true).empty()) {
    mark(first);
    return first;
  }

  // Else each feature on its own, alternative by alternative.
  Selection chosen = none_of(features.size());
  for (size_t i = 0; i < features.size(); ++i) {
    std::string reasons;
    for (size_t k = 0; k < features[i].alternatives.size() && chosen[i] < 0; ++k) {
      const auto& alternative = features[i].alternatives[k];
      Selection alone = none_of(features.size());
      alone[i] = static_cast<int>(k);
      std::string reason = try_load(alone, false);
      if (reason.empty()) {
        chosen[i] = static_cast<int>(k);
        break;
      }
      if (refusals.refuses(collector + "." + features[i].name, alternative.id)) reason += " (NEUTRACER_REFUSE)";
      reasons += (reasons.empty() ? "" : "; ") + alternative.id + ": " + reason;
    }
    states[i].reason = reasons;
    if (chosen[i] >= 0) continue;
    std::string needs;
    for (const auto& alternative : features[i].alternatives) needs += (needs.empty() ? "" : " or ") + alternative.needs;
    states[i].needs = needs;
    if (features[i].required)
      return Error{states[i].name + " needs " + needs + ", which this kernel refused (" + reasons + ")"};
  }
  if (std::string reason = try_load(chosen, true); !reason.empty())
    return Error{collector + ": the features that loaded one by one failed together: " + reason};
  mark(chosen);
  return chosen;
}

Status apply_selection(bpf_object* object, const std::string& collector, const std::vector<Feature>& features,
                       const Selection& selection, const Refusals& refusals) {
  bpf_program* program;
  bpf_object__for_each_program(program, object) {
    const char* name = bpf_program__name(program);
    bool listed = false, load = false, refused = false;
    for (size_t i = 0; i < features.size(); ++i) {
      for (size_t k = 0; k < features[i].alternatives.size(); ++k) {
        const auto& alternative = features[i].alternatives[k];
        for (const auto& member : alternative.programs) {
          if (member != name) continue;
          listed = true;
          if (selection[i] == static_cast<int>(k)) {
            load = true;
            refused = refused || refusals.refuses(collector + "." + features[i].name, alternative.id);
          }
        }
      }
    }
    if (!listed) return Error{collector + ": BPF program " + name + " belongs to no feature"};
    bpf_program__set_autoload(program, load);
    if (refused) bpf_program__set_flags(program, bpf_program__flags(program) | kRefusedFlag);
  }
  return {};
}

void Links::clear() {
  while (!links_.empty()) {
    bpf_link__destroy(links_.back());
    links_.pop_back();
  }
}

Status attach_programs(bpf_object* object, const Alternative& alternative, int cgroup_fd, Links& links) {
  std::vector<bpf_link*> made;
  for (const auto& name : alternative.programs) {
    bpf_program* program = bpf_object__find_program_by_name(object, name.c_str());
    if (!program) return Error{"no BPF program " + name};
    if (starts_with(bpf_program__section_name(program), "iter/")) continue;  // attached by their users
    bpf_link* link;
    switch (bpf_program__type(program)) {
      case BPF_PROG_TYPE_CGROUP_SOCK:
      case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
      case BPF_PROG_TYPE_SOCK_OPS:
      case BPF_PROG_TYPE_CGROUP_SKB:
        link = bpf_program__attach_cgroup(program, cgroup_fd);
        break;
      default:
        link = bpf_program__attach(program);
    }
    if (!link) {
      int error = errno;
      for (bpf_link* undo : made) bpf_link__destroy(undo);
      return errno_error("attaching " + name + " (" + alternative.needs + ")", error);
    }
    made.push_back(link);
  }
  for (bpf_link* link : made) links.add(link);
  return {};
}

std::string capture_libbpf_log(const std::function<int()>& load, int& error) {
  std::string log;
  {
    LibbpfLogCapture capture(log);
    error = load();
  }
  return log;
}

}  // namespace nt::bpf
