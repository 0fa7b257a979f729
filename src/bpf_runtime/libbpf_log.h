#pragma once

namespace nt::bpf {

// Routes libbpf's messages: all of them to stderr when verbose, none otherwise (failures are
// reported once, as values, by the caller that knows what the failure means).
void route_libbpf_log(bool verbose);

}  // namespace nt::bpf
