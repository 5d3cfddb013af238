// safetensors: bit-exact round trips, the reference writer's byte layout, zero-copy reading, and
// one rejection per kind of malformed file (each an Error naming the problem, never a crash).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>
#include <optional>

#include "io/safetensors.h"
#include "io_test_support.h"

namespace itl {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

// An image with `header` as its JSON and `data` as its data section; `length` overrides the
// declared header length.
std::string image(const std::string& header, const std::string& data, std::optional<uint64_t> length = std::nullopt) {
  const uint64_t n = length.value_or(header.size());
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &n, 8);
  return bytes + header + data;
}

SafeTensorsHeader parse(const std::string& bytes) {
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem.safetensors");
}

// Every bit pattern of a 16-bit type (NaN payloads, infinities, -0, subnormals) must survive.
at::Tensor random_bits(at::ScalarType type, std::vector<int64_t> shape) {
  at::Tensor bits = at::randint(-32768, 32768, shape, at::kShort);
  if (type == at::kFloat) return at::randint(-(1LL << 31), (1LL << 31) - 1, shape, at::kInt).view(at::kFloat);
  return bits.view(type);
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.numel() * ca.element_size()) == 0;
}

TEST(SafeTensors, RoundTripIsBitExact) {
  TempDir dir;
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", random_bits(at::kFloat, {7, 5})},
      {"bf16", random_bits(at::kBFloat16, {3, 11})},
      {"f16", random_bits(at::kHalf, {13})},
      {"f64", at::randn({2, 2}, at::kDouble)},
      {"i64", at::randint(-1000000, 1000000, {6}, at::kLong)},
      {"i32", at::randint(-1000, 1000, {2, 3, 4}, at::kInt)},
      {"u8", at::randint(0, 256, {5}, at::kByte)},
      {"bool", at::randint(0, 2, {4}, at::kByte).to(at::kBool)},
      {"scalar", at::full({}, 3.5f)},
      {"empty", at::zeros({0, 4}, at::kBFloat16)},
  };
  const std::string path = dir / "model.safetensors";
  write_safetensors(path, tensors);
  const auto file = SafeTensorsFile::open(path);
  EXPECT_EQ(file->header().metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(file->header().tensors.size(), tensors.size());
  for (const auto& [name, expected] : tensors) {
    SCOPED_TRACE(name);
    const at::Tensor got = file->tensor(name);
    EXPECT_TRUE(same_bytes(got, expected));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(got.data_ptr()) % got.element_size(), 0u);
  }
  // Nothing but the file itself is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(SafeTensors, WritesNonContiguousAndGradTensors) {
  TempDir dir;
  const at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  const at::Tensor grad = at::ones({2}).set_requires_grad(true);
  write_safetensors(dir / "a.safetensors", {{"t", base.t()}, {"g", grad}});
  const auto file = SafeTensorsFile::open(dir / "a.safetensors");
  EXPECT_TRUE(at::equal(file->tensor("t"), base.t().contiguous()));
  EXPECT_TRUE(at::equal(file->tensor("g"), at::ones({2})));
}

TEST(SafeTensors, ReaderIsZeroCopyAndKeepsTheMappingAlive) {
  TempDir dir;
  const at::Tensor w = at::randn({64, 64});
  write_safetensors(dir / "w.safetensors", {{"w", w}});
  auto file = SafeTensorsFile::open(dir / "w.safetensors");
  at::Tensor a = file->tensor("w");
  at::Tensor b = file->tensor("w");
  EXPECT_EQ(a.data_ptr(), b.data_ptr());  // both view the mapping: no copy was made
  file.reset();                           // the tensors hold the mapping now
  fs::remove(dir / "w.safetensors");
  EXPECT_TRUE(at::equal(a, w));
  a.mul_(2);  // a private mapping: writing copies the page instead of faulting or touching the file
  EXPECT_TRUE(at::equal(b, w * 2));
}

// The reference (Rust) writer's exact bytes for one F32 tensor [1,2,3] = 0..5 named "attn.0":
// compact JSON, no metadata, header already a multiple of 8.
TEST(SafeTensors, LayoutMatchesTheReferenceWriter) {
  TempDir dir;
  const at::Tensor t = at::arange(6, at::kFloat).reshape({1, 2, 3});
  write_safetensors(dir / "a.safetensors", {{"attn.0", t}}, {});
  const std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(header.size(), 64u);
  std::string data(24, '\0');
  std::memcpy(data.data(), t.data_ptr(), 24);
  EXPECT_EQ(read_bytes(dir / "a.safetensors"), image(header, data));

  // A 65-byte header is padded with spaces to 72, so the data stays 8-byte aligned.
  write_safetensors(dir / "b.safetensors", {{"attn0", t.reshape({1, 1, 2, 3})}}, {});
  const std::string header_b = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(header_b.size(), 65u);
  EXPECT_EQ(read_bytes(dir / "b.safetensors"), image(header_b + std::string(7, ' '), data));

  // Metadata comes first; an empty file is just the padded header.
  write_safetensors(dir / "c.safetensors", {}, {{"framework", "pt"}});
  EXPECT_EQ(read_bytes(dir / "c.safetensors"), image(R"({"__metadata__":{"framework":"pt"}})" + std::string(5, ' '), ""));
}

TEST(SafeTensors, DataOrderIsAlignmentThenName) {
  TempDir dir;
  write_safetensors(dir / "a.safetensors", {{"a", at::zeros({3}, at::kHalf)},
                                            {"b", at::zeros({3}, at::kFloat)},
                                            {"c", at::zeros({1}, at::kLong)},
                                            {"d", at::zeros({3}, at::kBFloat16)},
                                            {"a2", at::zeros({1}, at::kFloat)},
                                            {"e", at::zeros({1}, at::kBool)}});
  const auto file = SafeTensorsFile::open(dir / "a.safetensors");
  std::vector<std::string> order;
  for (const TensorInfo& info : file->header().tensors) order.push_back(info.name);
  EXPECT_EQ(order, (std::vector<std::string>{"c", "a2", "b", "d", "a", "e"}));
}

TEST(SafeTensors, MisalignedDataFromOtherWritersIsCopied) {
  // One byte of U8 first puts the F32 tensor at an odd address.
  const std::string header =
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  const float values[2] = {1.5f, -2.25f};
  std::string data(1, '\x07');
  data.append(reinterpret_cast<const char*>(values), 8);
  TempDir dir;
  write_bytes(dir / "m.safetensors", image(header, data));
  const auto file = SafeTensorsFile::open(dir / "m.safetensors");
  const at::Tensor b = file->tensor("b");
  EXPECT_EQ(b[0].item<float>(), 1.5f);
  EXPECT_EQ(b[1].item<float>(), -2.25f);
  EXPECT_EQ(file->tensor("a")[0].item<uint8_t>(), 7);
}

TEST(SafeTensors, AcceptsEmptyAndZeroSizedTensors) {
  EXPECT_TRUE(parse(image("{}      ", "")).tensors.empty());
  const auto h =
      parse(image(R"({"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"w":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})", "ab"));
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "z");
}

struct Malformed {
  const char* name;
  std::string bytes;
  const char* message;
};

TEST(SafeTensors, RejectsEachKindOfMalformation) {
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data8(8, '\0');
  const std::vector<Malformed> cases = {
      {"too short", std::string("\x05\x00\x00", 3), "too short for the 8-byte header length"},
      {"header beyond file", image(ok, data8, 4096), "header length 4096 goes beyond the end of the file"},
      {"huge header length", image(ok, data8, 1ull << 62), "exceeds the format's limit"},
      {"header length max", image(ok, data8, ~0ull), "exceeds the format's limit"},
      {"not utf-8", image("{\"w\xff\":{}}", ""), "header is not valid UTF-8 (byte 11)"},
      {"overlong utf-8", image("{\"\xc0\xaf\":1}", ""), "not valid UTF-8"},
      {"surrogate utf-8", image("{\"\xed\xa0\x80\":1}", ""), "not valid UTF-8"},
      {"not json", image("{\"w\": {\"dtype\": ", ""), "header is not valid JSON"},
      {"trailing garbage", image(ok + "x", data8), "header is not valid JSON"},
      {"not an object", image("[1,2,3]", ""), "header must be a JSON object, not a array"},
      {"duplicate name",
       image(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "ab"),
       "header names 'w' twice"},
      {"deep nesting", image(std::string(40, '[') + std::string(40, ']'), ""), "nests deeper"},
      {"entry not object", image(R"({"w":3})", ""), "tensor 'w': expected an object, not a number"},
      {"missing offsets", image(R"({"w":{"dtype":"F32","shape":[2]}})", ""), "tensor 'w': missing 'data_offsets'"},
      {"unknown dtype", image(R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", data8), "unknown dtype 'F33'"},
      {"dtype not string", image(R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", data8), "dtype must be a string"},
      {"negative dim", image(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8),
       "shape entry must be a non-negative integer"},
      {"float dim", image(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", data8), "non-negative integer"},
      {"three offsets", image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", data8),
       "data_offsets must be a list of two integers"},
      {"end before begin", image(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data8),
       "data_offsets end 0 is before begin 8"},
      {"byte count mismatch", image(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8),
       "tensor 'w': shape [3] of dtype F32 needs 12 bytes but data_offsets span 8"},
      {"dtype mismatch", image(R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", data8),
       "needs 16 bytes but data_offsets span 8"},
      {"shape overflow", image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", data8),
       "overflows a 64-bit byte count"},
      {"offsets outside data", image(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data8),
       "tensor 'w': data_offsets [0,16] lie outside the data section of 8 bytes"},
      {"overlap",
       image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
             std::string(12, '\0')),
       "tensor 'b' overlaps tensor 'a'"},
      {"hole",
       image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
             std::string(12, '\0')),
       "bytes 4 to 8 of the data section belong to no tensor"},
      {"hole at start", image(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data8),
       "bytes 0 to 4 of the data section belong to no tensor"},
      {"trailing data", image(ok, data8 + "xx"), "2 bytes after the last tensor"},
      {"truncated data", image(ok, data8.substr(0, 5)), "lie outside the data section of 5 bytes"},
      {"metadata not strings", image(R"({"__metadata__":{"format":1}})", ""), "__metadata__ entry 'format' must be a string"},
      {"metadata not object", image(R"({"__metadata__":[]})", ""), "__metadata__ must be an object"},
  };
  for (const Malformed& c : cases) {
    SCOPED_TRACE(c.name);
    expect_error([&] { parse(c.bytes); }, ErrorCode::kCheckpointFormat, c.message);
    expect_error([&] { parse(c.bytes); }, ErrorCode::kCheckpointFormat, "mem.safetensors: ");
  }
}

TEST(SafeTensors, FileErrors) {
  TempDir dir;
  expect_error([&] { SafeTensorsFile::open(dir / "absent.safetensors"); }, ErrorCode::kIo, "absent.safetensors");
  expect_error([&] { SafeTensorsFile::open(dir.path().string()); }, ErrorCode::kIo, "not a regular file");
  write_bytes(dir / "empty.safetensors", "");
  expect_error([&] { SafeTensorsFile::open(dir / "empty.safetensors"); }, ErrorCode::kCheckpointFormat,
               "empty.safetensors: file is 0 bytes");

  // A download cut short: the last bytes of a valid file are missing.
  write_safetensors(dir / "full.safetensors", {{"w", at::randn({16})}});
  const std::string full = read_bytes(dir / "full.safetensors");
  write_bytes(dir / "cut.safetensors", full.substr(0, full.size() - 3));
  expect_error([&] { SafeTensorsFile::open(dir / "cut.safetensors"); }, ErrorCode::kCheckpointFormat, "lie outside the data section");
  write_bytes(dir / "header-cut.safetensors", full.substr(0, 20));
  expect_error([&] { SafeTensorsFile::open(dir / "header-cut.safetensors"); }, ErrorCode::kCheckpointFormat,
               "goes beyond the end of the file");

  const auto file = SafeTensorsFile::open(dir / "full.safetensors");
  EXPECT_EQ(file->find("nope"), nullptr);
  expect_error([&] { file->tensor("nope"); }, ErrorCode::kCheckpointFormat, "no tensor named 'nope'");
}

TEST(SafeTensors, WriterRejectsBadInputAndLeavesNothing) {
  TempDir dir;
  expect_error(
      [&] {
        write_safetensors(dir / "a.safetensors", {{"w", at::zeros({1})}, {"w", at::zeros({1})}});
      },
      ErrorCode::kInvalidArgument, "tensor 'w' given twice");
  expect_error(
      [&] {
        write_safetensors(dir / "a.safetensors", {{"c", at::zeros({1}, at::kComplexFloat)}});
      },
      ErrorCode::kInvalidArgument, "safetensors cannot store");
  expect_error(
      [&] {
        write_safetensors(dir / "a.safetensors", {{"__metadata__", at::zeros({1})}});
      },
      ErrorCode::kInvalidArgument, "cannot name a tensor");
  expect_error([&] { write_safetensors(dir / "missing-folder/a.safetensors", {{"w", at::zeros({1})}}); }, ErrorCode::kIo, "missing-folder");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 0);
}

TEST(SafeTensors, OverwritingKeepsEarlierViewsIntact) {
  // Saving over a file that is still mapped must not change what was read from it: the writer
  // replaces the file by rename, so the old mapping keeps the old bytes.
  TempDir dir;
  write_safetensors(dir / "w.safetensors", {{"w", at::ones({4})}});
  const at::Tensor old_view = SafeTensorsFile::open(dir / "w.safetensors")->tensor("w");
  write_safetensors(dir / "w.safetensors", {{"w", at::zeros({4})}});
  EXPECT_TRUE(at::equal(old_view, at::ones({4})));
  EXPECT_TRUE(at::equal(SafeTensorsFile::open(dir / "w.safetensors")->tensor("w"), at::zeros({4})));
}

}  // namespace
}  // namespace itl
