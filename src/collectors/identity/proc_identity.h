// Reads a process's identity from /proc: command line, user, cgroup, container, job rank.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "model/identity.h"

namespace nt::collectors {

Result<model::ProcessIdentity> read_identity(uint32_t pid);

// The container id a cgroup path names (docker, containerd, CRI-O, podman), or "".
std::string container_id_of(const std::string& cgroup_path);

}  // namespace nt::collectors
