#include "options.h"

#include <cmath>

#include "errors.h"

namespace itl::addon {

const char* js_type_name(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return "boolean";
    case napi_number:
      return "number";
    case napi_string:
      return "string";
    case napi_symbol:
      return "symbol";
    case napi_object:
      return value.IsArray() ? "array" : "object";
    case napi_function:
      return "function";
    case napi_external:
      return "external";
    case napi_bigint:
      return "bigint";
  }
  return "unknown";
}

Options::Options(Napi::Env env, Napi::Value value, std::string name) : env_(env), name_(std::move(name)) {
  if (value.IsUndefined()) {
    object_ = Napi::Object::New(env);
  } else if (value.IsObject() && !value.IsArray()) {
    object_ = value.As<Napi::Object>();
  } else {
    throw_type_error(env, "expected an object for " + name_ + " but received " + js_type_name(value));
  }
}

Napi::Value Options::field(const char* key) const {
  read_.insert(key);
  return object_.Get(key);
}

Napi::Value Options::required(const char* key) const {
  Napi::Value value = field(key);
  if (value.IsUndefined()) throw_type_error(env_, name_ + "." + key + " is required");
  return value;
}

void Options::wrong_type(const char* key, const char* expected, const Napi::Value& value) const {
  throw_type_error(env_, std::string("expected ") + expected + " for " + name_ + "." + key + " but received " + js_type_name(value));
}

int64_t Options::integer(const char* key, int64_t fallback) const {
  Napi::Value value = field(key);
  if (value.IsUndefined()) return fallback;
  if (!value.IsNumber()) wrong_type(key, "an integer", value);
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::floor(number) != number) {
    throw_type_error(env_, "expected an integer for " + name_ + "." + key + " but received " + std::to_string(number));
  }
  return static_cast<int64_t>(number);
}

double Options::number(const char* key, double fallback) const {
  Napi::Value value = field(key);
  if (value.IsUndefined()) return fallback;
  if (!value.IsNumber()) wrong_type(key, "a number", value);
  return value.As<Napi::Number>().DoubleValue();
}

std::string Options::string(const char* key, const std::string& fallback) const {
  Napi::Value value = field(key);
  if (value.IsUndefined()) return fallback;
  if (!value.IsString()) wrong_type(key, "a string", value);
  return value.As<Napi::String>().Utf8Value();
}

bool Options::boolean(const char* key, bool fallback) const {
  Napi::Value value = field(key);
  if (value.IsUndefined()) return fallback;
  if (!value.IsBoolean()) wrong_type(key, "a boolean", value);
  return value.As<Napi::Boolean>().Value();
}

int64_t Options::integer(const char* key) const {
  required(key);
  return integer(key, 0);
}

double Options::number(const char* key) const {
  required(key);
  return number(key, 0.0);
}

std::string Options::string(const char* key) const {
  required(key);
  return string(key, "");
}

bool Options::boolean(const char* key) const {
  required(key);
  return boolean(key, false);
}

std::string Options::string_or_null(const char* key) const {
  if (required(key).IsNull()) return "";
  return string(key, "");
}

std::vector<std::string> Options::strings(const char* key) const {
  const Napi::Value value = required(key);
  if (!value.IsArray()) wrong_type(key, "an array of strings", value);
  const Napi::Array array = value.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const Napi::Value item = array.Get(i);
    if (!item.IsString()) {
      throw_type_error(env_, "expected strings in " + name_ + "." + key + " but item " + std::to_string(i) + " is " + js_type_name(item));
    }
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

void Options::reject_unread() const {
  const Napi::Array keys = object_.GetPropertyNames();
  std::string unknown;
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string key = keys.Get(i).ToString().Utf8Value();
    if (read_.count(key) == 0) unknown += (unknown.empty() ? "" : ", ") + name_ + "." + key;
  }
  if (!unknown.empty()) throw_type_error(env_, "unknown field(s) " + unknown + ": this addon does not read them");
}

}  // namespace itl::addon
