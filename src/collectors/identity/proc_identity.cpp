#include "collectors/identity/proc_identity.h"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

#include "common/unique_fd.h"

namespace nt::collectors {
namespace {

// Plain read(2): a process that exits while its /proc files are read makes read fail with ESRCH,
// which must be an error value here (a streambuf iterator throws it through, and the agent aborted
// under 5,000 short-lived processes).
Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_error("cannot read " + path, errno);
  std::string text;
  char chunk[4096];
  ssize_t n;
  while ((n = read(fd.get(), chunk, sizeof(chunk))) > 0) text.append(chunk, static_cast<size_t>(n));
  if (n < 0) return errno_error("cannot read " + path, errno);
  return text;
}

constexpr size_t kMaxRunIdBytes = 32;

std::optional<int> to_int(const std::string& text) {
  if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), ::isdigit)) return std::nullopt;
  return std::stoi(text);
}

}  // namespace

bool loopback_address(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address == "::1" || address == "[::1]" || address == "localhost" ||
         address.rfind("localhost.", 0) == 0 || address == "0.0.0.0" || address == "::";
}

std::string container_id_of(const std::string& cgroup_path) {
  // The id is the last run of exactly 64 hex digits in the path (".../docker-<id>.scope",
  // ".../cri-containerd-<id>.scope", "/docker/<id>", "/libpod-<id>").
  std::string found;
  size_t run = 0;
  for (size_t i = 0; i <= cgroup_path.size(); ++i) {
    if (i < cgroup_path.size() && std::isxdigit(static_cast<unsigned char>(cgroup_path[i])) &&
        !std::isupper(static_cast<unsigned char>(cgroup_path[i]))) {
      ++run;
      continue;
    }
    if (run == 64) found = cgroup_path.substr(i - 64, 64);
    run = 0;
  }
  return found;
}

Result<model::ProcessIdentity> read_identity(uint32_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  model::ProcessIdentity id;
  auto cmdline = read_file(dir + "/cmdline");
  if (!cmdline) return cmdline.error();
  id.cmdline = cmdline.value();
  while (!id.cmdline.empty() && id.cmdline.back() == '\0') id.cmdline.pop_back();
  for (char& c : id.cmdline)
    if (c == '\0') c = ' ';

  std::ifstream status(dir + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Uid:", 0) == 0) id.uid = static_cast<uint32_t>(std::stoul(line.substr(4)));
  passwd entry{}, *result = nullptr;
  char buffer[1024];
  if (getpwuid_r(id.uid, &entry, buffer, sizeof(buffer), &result) == 0 && result) id.user = entry.pw_name;

  std::ifstream cgroup(dir + "/cgroup");
  for (std::string line; std::getline(cgroup, line);)
    if (line.rfind("0::", 0) == 0) id.cgroup = line.substr(3);
  id.container_id = container_id_of(id.cgroup);

  auto environ = read_file(dir + "/environ");
  if (environ) {
    std::map<std::string, std::string> env;
    std::istringstream entries(environ.value());
    for (std::string entry; std::getline(entries, entry, '\0');) {
      auto eq = entry.find('=');
      if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    if (env.count("MASTER_ADDR") && env.count("MASTER_PORT") && env.count("RANK")) {
      const std::string& address = env["MASTER_ADDR"];
      id.job = address + ":" + env["MASTER_PORT"];
      id.job_on_loopback = loopback_address(address);
      // torchrun's default run id is "none"; a given one tells runs on one rendezvous apart.
      if (auto run = env.find("TORCHELASTIC_RUN_ID"); run != env.end() && !run->second.empty() && run->second != "none")
        id.job += "/" + run->second.substr(0, kMaxRunIdBytes);
      id.rank = to_int(env["RANK"]);
      id.local_rank = to_int(env["LOCAL_RANK"]);
      id.world_size = to_int(env["WORLD_SIZE"]);
    }
  }
  return id;
}

}  // namespace nt::collectors
