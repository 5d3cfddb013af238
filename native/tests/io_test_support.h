// Helpers shared by the io_* tests: a fresh temporary folder per test and raw file bytes.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "util/error.h"

namespace itl::testing {

// A new empty folder under $ITL_TEST_TMP (set by ctest) or the system temp folder, removed when
// the test ends.
class TempDir {
 public:
  TempDir() {
    const char* root = std::getenv("ITL_TEST_TMP");
    std::filesystem::path base = root && *root ? std::filesystem::path(root) : std::filesystem::temp_directory_path();
    std::filesystem::create_directories(base);
    std::string pattern = (base / "io-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed under " + base.string());
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `body`, which must throw itl::Error with `code` and a message containing `needle`.
template <typename Body>
void expect_error(Body&& body, itl::ErrorCode code, const std::string& needle) {
  try {
    body();
    ADD_FAILURE() << "no error thrown; expected one mentioning \"" << needle << "\"";
  } catch (const itl::Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what() << "\nexpected to contain: " << needle;
  }
}

}  // namespace itl::testing
