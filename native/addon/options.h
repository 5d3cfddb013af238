// Reading one plain JS options object into C++ values, with errors that say which field was wrong
// ("expected a number for options.size but received string"). The TypeScript layer validates
// first; this is the second line, so a direct addon call can never crash the process.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace itl::addon {

class Options {
 public:
  Options(Napi::Env env, Napi::Value value, std::string name);

  int64_t integer(const char* key, int64_t fallback) const;
  double number(const char* key, double fallback) const;
  std::string string(const char* key, const std::string& fallback) const;
  bool boolean(const char* key, bool fallback) const;

 private:
  Napi::Value field(const char* key) const;  // undefined when absent
  [[noreturn]] void wrong_type(const char* key, const char* expected, const Napi::Value& value) const;

  Napi::Env env_;
  Napi::Object object_;
  std::string name_;
};

// "undefined", "string", "object", …: what JavaScript's typeof would say.
const char* js_type_name(const Napi::Value& value);

}  // namespace itl::addon
