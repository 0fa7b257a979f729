// Reads a process's identity from /proc: command line, user, cgroup, container, job rank.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "model/identity.h"

namespace nt::collectors {

Result<model::ProcessIdentity> read_identity(uint32_t pid);

// Whether a rendezvous address (MASTER_ADDR) can only mean this host: 127/8, ::1, localhost, and
// the unspecified addresses.
bool loopback_address(const std::string& address);

// The container id a cgroup path names (docker, containerd, CRI-O, podman), or "".
std::string container_id_of(const std::string& cgroup_path);

}  // namespace nt::collectors
