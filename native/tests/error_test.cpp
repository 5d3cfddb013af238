// The error codes are an interface: JavaScript branches on their names.
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "util/device.h"
#include "util/error.h"
#include "util/progress.h"

namespace itl {
namespace {

TEST(Error, CarriesCodeAndMessage) {
  const Error e(ErrorCode::kConfig, "rope_type 'dynamic' is not implemented");
  EXPECT_EQ(e.code(), ErrorCode::kConfig);
  EXPECT_STREQ(e.what(), "rope_type 'dynamic' is not implemented");
  EXPECT_STREQ(error_code_name(e.code()), "ITL_CONFIG");
}

TEST(Error, CodeNamesAreDistinct) {
  const ErrorCode all[] = {ErrorCode::kInvalidArgument, ErrorCode::kConfig, ErrorCode::kCheckpointFormat, ErrorCode::kIo,
                           ErrorCode::kOutOfMemory,     ErrorCode::kCuda,   ErrorCode::kAborted,          ErrorCode::kDistributed,
                           ErrorCode::kInternal};
  std::set<std::string> names;
  for (ErrorCode code : all) names.insert(error_code_name(code));
  EXPECT_EQ(names.size(), std::size(all));
}

TEST(Error, RequireThrowsInvalidArgument) {
  EXPECT_NO_THROW(require(true, "unused"));
  try {
    require(false, "size must be positive");
    FAIL() << "require(false) did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_STREQ(e.what(), "size must be positive");
  }
}

TEST(RunControl, AbortFlagStopsWork) {
  std::atomic<bool> flag{false};
  RunControl control;
  control.abort = &flag;
  EXPECT_NO_THROW(control.check_abort());
  flag = true;
  try {
    control.check_abort();
    FAIL() << "check_abort did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kAborted);
  }
}

TEST(Device, ParsesNamesAndRejectsOthers) {
  EXPECT_TRUE(parse_device("cpu").is_cpu());
  EXPECT_EQ(parse_dtype("fp32"), c10::kFloat);
  EXPECT_EQ(parse_dtype("bf16"), c10::kBFloat16);
  EXPECT_EQ(dtype_name(c10::kBFloat16), "bf16");
  EXPECT_THROW(parse_device("gpu"), Error);
  EXPECT_THROW(parse_device("cuda:x"), Error);
  EXPECT_THROW(parse_dtype("float32"), Error);
}

TEST(Device, CudaIsUsableOrACudaError) {
  if (at::hasCUDA()) {
    EXPECT_TRUE(parse_device("cuda:0").is_cuda());
    EXPECT_THROW(parse_device("cuda:4096"), Error);
    return;
  }
  try {
    parse_device("cuda:0");
    FAIL() << "cuda:0 accepted without CUDA";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCuda);
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos);
  }
}

}  // namespace
}  // namespace itl
