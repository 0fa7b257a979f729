// JSON text written straight into a buffer, for records written thousands of times an interval
// (one per active flow): no document is built and nothing is allocated once the buffer has grown.
// The text means what nlohmann::json's dump of the same record means: strings are escaped as it
// escapes them (invalid UTF-8 replaced), numbers read back to the same values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nt::output {

class JsonObjectText {
 public:
  // Appends "{" to `out`; close() appends the "}".
  explicit JsonObjectText(std::string& out);
  // Keys are the caller's constants: written as given.
  JsonObjectText& unsigned_field(std::string_view key, uint64_t value);
  JsonObjectText& real_field(std::string_view key, double value);  // not finite: null
  JsonObjectText& text_field(std::string_view key, std::string_view value);
  JsonObjectText& bool_field(std::string_view key, bool value);
  void close();

 private:
  void key(std::string_view name);
  std::string& out_;
  bool first_ = true;
};

}  // namespace nt::output
