#include "options.h"

#include <cmath>

#include "errors.h"

namespace itl::addon {

const char* js_type_name(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_object: return value.IsArray() ? "array" : "object";
    case napi_function: return "function";
    case napi_external: return "external";
    case napi_bigint: return "bigint";
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

Napi::Value Options::field(const char* key) const { return object_.Get(key); }

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

}  // namespace itl::addon
