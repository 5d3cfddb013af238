// Parsing and validating safetensors headers: the rules of the reference Rust crate's
// `Metadata::validate` (contiguous, fully covered data; byte counts matching dtype and shape),
// plus duplicate names, strict UTF-8 and bounded nesting. No libtorch here, so the fuzzer
// target links this file alone. Not here: mapping files or making tensors (safetensors.cpp).
#include "io/safetensors_header.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>

#include "util/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; big-endian hosts would need byte swaps");

namespace itl {
namespace {

using Json = nlohmann::json;

// The reference implementation refuses larger headers; so do we, so a hostile length cannot make
// us parse gigabytes of JSON.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A valid header nests three levels deep (object → tensor entry → shape list); refusing deeper
// input keeps a hostile header from building deep JSON trees.
constexpr int kMaxHeaderDepth = 4;

struct DtypeSpec {
  const char* name;
  size_t size;
};

// In the reference crate's enum order, which is increasing alignment: its writer sorts tensors by
// this rank, descending, so every tensor starts aligned to its element size.
constexpr DtypeSpec kDtypes[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
                                 {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};

const DtypeSpec* find_dtype(const std::string& name) {
  for (const DtypeSpec& spec : kDtypes)
    if (name == spec.name) return &spec;
  return nullptr;
}

[[noreturn]] void malformed(const std::string& source, const std::string& message) {
  throw Error(ErrorCode::kCheckpointFormat, source + ": " + message);
}

// Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF), as Rust's from_utf8.
// Returns the offset of the first bad byte, or size when all is well.
size_t first_invalid_utf8(const uint8_t* s, size_t size) {
  size_t i = 0;
  while (i < size) {
    const uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > size) return i;
    if (s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((s[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return size;
}

// Parses the header JSON, refusing duplicate keys (nlohmann would silently keep the last) and
// deep nesting.
Json parse_header_json(const std::string& text, const std::string& source) {
  std::vector<std::set<std::string>> keys_per_object;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= kMaxHeaderDepth) malformed(source, "header JSON nests deeper than a safetensors header can");
        if (event == Json::parse_event_t::object_start) keys_per_object.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys_per_object.empty()) keys_per_object.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys_per_object.back().insert(parsed.get<std::string>()).second)
          malformed(source, "header names '" + parsed.get<std::string>() + "' twice");
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text, callback);
  } catch (const Json::exception& e) {
    malformed(source, std::string("header is not valid JSON: ") + e.what());
  }
}

uint64_t non_negative(const Json& value, const std::string& source, const std::string& what) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  malformed(source, what + " must be a non-negative integer, not a " + std::string(value.type_name()));
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

TensorInfo parse_tensor_entry(const std::string& name, const Json& entry, const std::string& source) {
  const std::string where = "tensor '" + name + "'";
  if (!entry.is_object()) malformed(source, where + ": expected an object, not a " + std::string(entry.type_name()));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(key)) malformed(source, where + ": missing '" + key + "'");
  TensorInfo info;
  info.name = name;
  const Json& dtype = entry["dtype"];
  if (!dtype.is_string()) malformed(source, where + ": dtype must be a string");
  info.dtype = dtype.get<std::string>();
  const DtypeSpec* spec = find_dtype(info.dtype);
  if (!spec) malformed(source, where + ": unknown dtype '" + info.dtype + "'");

  const Json& shape = entry["shape"];
  if (!shape.is_array()) malformed(source, where + ": shape must be a list");
  uint64_t elements = 1;
  bool overflow = false;
  for (const Json& dim : shape) {
    const uint64_t d = non_negative(dim, source, where + " shape entry");
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) malformed(source, where + ": shape entry too large");
    info.shape.push_back(static_cast<int64_t>(d));
    // Checked in order, as the reference does: an overflow is an error even if a later dim is 0.
    overflow = overflow || __builtin_mul_overflow(elements, d, &elements);
  }

  const Json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) malformed(source, where + ": data_offsets must be a list of two integers");
  info.data_begin = non_negative(offsets[0], source, where + " data_offsets");
  info.data_end = non_negative(offsets[1], source, where + " data_offsets");
  if (info.data_end < info.data_begin)
    malformed(source,
              where + ": data_offsets end " + std::to_string(info.data_end) + " is before begin " + std::to_string(info.data_begin));
  uint64_t bytes = 0;
  if (overflow || __builtin_mul_overflow(elements, static_cast<uint64_t>(spec->size), &bytes))
    malformed(source, where + ": shape " + shape_text(info.shape) + " overflows a 64-bit byte count");
  if (bytes != info.data_end - info.data_begin)
    malformed(source, where + ": shape " + shape_text(info.shape) + " of dtype " + info.dtype + " needs " + std::to_string(bytes) +
                          " bytes but data_offsets span " + std::to_string(info.data_end - info.data_begin));
  return info;
}

std::map<std::string, std::string> parse_metadata(const Json& value, const std::string& source) {
  std::map<std::string, std::string> metadata;
  if (value.is_null()) return metadata;
  if (!value.is_object()) malformed(source, "__metadata__ must be an object of strings");
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) malformed(source, "__metadata__ entry '" + key + "' must be a string, not a " + std::string(item.type_name()));
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

// The data section must be exactly the tensors laid end to end: no gaps, no overlaps, nothing after.
void check_layout(const std::vector<TensorInfo>& tensors, uint64_t data_size, const std::string& source) {
  uint64_t position = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : tensors) {
    if (t.data_end > data_size)
      malformed(source, "tensor '" + t.name + "': data_offsets [" + std::to_string(t.data_begin) + "," + std::to_string(t.data_end) +
                            "] lie outside the data section of " + std::to_string(data_size) + " bytes");
    if (t.data_begin < position)
      malformed(source, "tensor '" + t.name + "' overlaps tensor '" + previous->name + "' (bytes " + std::to_string(t.data_begin) + " to " +
                            std::to_string(position) + ")");
    if (t.data_begin > position)
      malformed(source, "bytes " + std::to_string(position) + " to " + std::to_string(t.data_begin) +
                            " of the data section belong to no tensor (before '" + t.name + "')");
    position = t.data_end;
    previous = &t;
  }
  if (position != data_size)
    malformed(source,
              "the data section has " + std::to_string(data_size - position) + " bytes after the last tensor that belong to no tensor");
}

}  // namespace

SafeTensorsHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& source) {
  if (size < 8) malformed(source, "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, data, 8);
  if (header_bytes > kMaxHeaderBytes)
    malformed(source, "header length " + std::to_string(header_bytes) + " exceeds the format's limit of 100 MB");
  if (header_bytes > size - 8)
    malformed(source,
              "header length " + std::to_string(header_bytes) + " goes beyond the end of the file (" + std::to_string(size) + " bytes)");
  const uint8_t* text = data + 8;
  const size_t bad = first_invalid_utf8(text, header_bytes);
  if (bad != header_bytes) malformed(source, "header is not valid UTF-8 (byte " + std::to_string(8 + bad) + ")");

  const Json root = parse_header_json(std::string(reinterpret_cast<const char*>(text), header_bytes), source);
  if (!root.is_object()) malformed(source, "header must be a JSON object, not a " + std::string(root.type_name()));

  SafeTensorsHeader header;
  header.data_offset = 8 + header_bytes;
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      header.metadata = parse_metadata(entry, source);
    } else {
      header.tensors.push_back(parse_tensor_entry(name, entry, source));
    }
  }
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.data_begin, a.data_end, a.name) < std::tie(b.data_begin, b.data_end, b.name);
  });
  check_layout(header.tensors, size - header.data_offset, source);
  return header;
}

size_t safetensors_dtype_size(const std::string& dtype) {
  const DtypeSpec* spec = find_dtype(dtype);
  return spec ? spec->size : 0;
}

int safetensors_dtype_rank(const std::string& dtype) {
  for (size_t i = 0; i < std::size(kDtypes); ++i)
    if (dtype == kDtypes[i].name) return static_cast<int>(i);
  return -1;
}

}  // namespace itl
