// The `io` and `disk` records (docs/json-schema.md): one per process and one per disk whose block
// I/O moved in the interval.
#pragma once

#include <nlohmann/json.hpp>

#include "model/block_io.h"

namespace nt::output {

// A process gets a record when its I/O moved in the interval, and once after it exits; a disk when
// its I/O moved.
bool io_record_due(const model::ProcessIo& process);
bool disk_record_due(const model::DeviceIo& device);
nlohmann::ordered_json io_record(const model::ProcessIo& process, double ts);
nlohmann::ordered_json disk_record(const model::DeviceIo& device, double ts);

}  // namespace nt::output
