// Reading one plain JS options object into C++ values, with errors that say which field was wrong
// ("expected a number for options.size but received string"). The TypeScript layer validates
// first; this is the second line, so a direct addon call can never crash the process.
#pragma once

#include <napi.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace itl::addon {

class Options {
 public:
  Options(Napi::Env env, Napi::Value value, std::string name);

  // An optional field: the fallback when it is absent.
  int64_t integer(const char* key, int64_t fallback) const;
  double number(const char* key, double fallback) const;
  std::string string(const char* key, const std::string& fallback) const;
  bool boolean(const char* key, bool fallback) const;

  // A required field: TypeError "options.<key> is required" when it is absent (undefined).
  int64_t integer(const char* key) const;
  double number(const char* key) const;
  std::string string(const char* key) const;
  bool boolean(const char* key) const;
  // Required, but null stands for "none" (returned as "").
  std::string string_or_null(const char* key) const;
  // Required array of strings.
  std::vector<std::string> strings(const char* key) const;
  // TypeError naming the object's own properties that no reader above asked for: a request that
  // carries a field this side does not know is a mismatch between the two sides, not extra data.
  void reject_unread() const;

 private:
  Napi::Value field(const char* key) const;  // undefined when absent
  Napi::Value required(const char* key) const;
  [[noreturn]] void wrong_type(const char* key, const char* expected, const Napi::Value& value) const;

  Napi::Env env_;
  Napi::Object object_;
  std::string name_;
  mutable std::set<std::string> read_;
};

// "undefined", "string", "object", …: what JavaScript's typeof would say.
const char* js_type_name(const Napi::Value& value);

}  // namespace itl::addon
