// Errors as values below main: every fallible call returns Result<T>; main turns an Error into
// one stderr line and a non-zero exit (docs/errors.md).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace nt {

struct Error {
  std::string message;  // one line, no trailing newline, says what failed and why
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}
  Result(Error error) : state_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &std::get<T>(state_); }
  T& operator*() & { return value(); }
  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Result<void>: success carries nothing.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

// "what: strerror(errno_value)" in one line.
Error errno_error(const std::string& what, int errno_value);

}  // namespace nt
