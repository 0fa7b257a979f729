// Plain-text renderer of the per-process table (the record --table summary; later `top --batch`).
#pragma once

#include <string>

#include "model/process.h"

namespace nt::output {

// Rows sorted by total bytes, largest first; comm shown with non-printable bytes as '?'.
std::string render_process_table(const model::ProcessTable& table);

}  // namespace nt::output
