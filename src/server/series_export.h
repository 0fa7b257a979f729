// What remote write forwards of a stored batch: every process counter it carries, as a Prometheus
// counter series per process (neutracer_process_<counter>_total, labels host, pid, start_ns, comm).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "neutracer/v1/ingest.pb.h"
#include "server/remote_write.h"

namespace nt::server {

std::vector<RemoteSample> remote_samples(const neutracer::v1::Batch& batch);
// Label values must be UTF-8: bytes outside printable ASCII become \xNN.
std::string escaped_bytes(std::string_view bytes);

}  // namespace nt::server
