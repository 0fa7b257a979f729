#include "output/json_text.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace nt::output {
namespace {

// Printable ASCII that JSON takes as it is: the common case of names and addresses.
bool needs_no_escaping(std::string_view text) {
  for (unsigned char c : text)
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  return true;
}

}  // namespace

JsonObjectText::JsonObjectText(std::string& out) : out_(out) { out_.push_back('{'); }

void JsonObjectText::key(std::string_view name) {
  if (!first_) out_.push_back(',');
  first_ = false;
  out_.push_back('"');
  out_.append(name);
  out_.append("\":");
}

JsonObjectText& JsonObjectText::unsigned_field(std::string_view name, uint64_t value) {
  key(name);
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof(digits), value).ptr;
  out_.append(digits, end);
  return *this;
}

JsonObjectText& JsonObjectText::real_field(std::string_view name, double value) {
  key(name);
  if (!std::isfinite(value)) {
    out_.append("null");
    return *this;
  }
  char digits[32];
  auto end = std::to_chars(digits, digits + sizeof(digits), value).ptr;  // shortest that reads back exactly
  std::string_view text(digits, static_cast<size_t>(end - digits));
  out_.append(text);
  // Keeps a whole number a real one for readers that tell them apart (as nlohmann writes 5.0).
  if (text.find_first_of(".e") == std::string_view::npos) out_.append(".0");
  return *this;
}

JsonObjectText& JsonObjectText::text_field(std::string_view name, std::string_view value) {
  key(name);
  if (needs_no_escaping(value)) {
    out_.push_back('"');
    out_.append(value);
    out_.push_back('"');
  } else {  // rare: let nlohmann escape it, so every record shows the same bytes the same way
    out_.append(nlohmann::json(std::string(value)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return *this;
}

JsonObjectText& JsonObjectText::bool_field(std::string_view name, bool value) {
  key(name);
  out_.append(value ? "true" : "false");
  return *this;
}

void JsonObjectText::close() { out_.push_back('}'); }

}  // namespace nt::output
