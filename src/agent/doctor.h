#pragma once

namespace nt::agent {

// Probes what each mode needs on this host and prints one line per feature; returns the exit
// status (non-zero when the default mode cannot run).
int run_doctor();

}  // namespace nt::agent
