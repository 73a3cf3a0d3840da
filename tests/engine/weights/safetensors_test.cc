#include "engine/weights/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/testing/safetensors_builder.h"
#include "tests/testing/status_matchers.h"

namespace terraserve::engine {
namespace {

using ::terraserve::testing::SafetensorsBuilder;
using ::terraserve::testing::SafetensorsBytes;
using ::terraserve::testing::StatusIs;
using ::testing::HasSubstr;

absl::StatusOr<std::unique_ptr<SafetensorsFile>> Parse(
    const std::string& bytes) {
  return SafetensorsFile::FromBuffer(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

TEST(SafetensorsTest, ReadsValidFile) {
  std::string bytes = SafetensorsBuilder()
                          .Add("a", {2, 3}, {1, 2, 3, 4, 5, 6})
                          .Add("b", {}, {7})
                          .Build();
  ASSERT_OK_AND_ASSIGN(auto file, Parse(bytes));
  ASSERT_OK_AND_ASSIGN(TensorView a, file->Get("a"));
  EXPECT_EQ(a.ShapeString(), "[2, 3]");
  EXPECT_EQ(SafetensorsFile::ToFloat(a),
            std::vector<float>({1, 2, 3, 4, 5, 6}));
  ASSERT_OK_AND_ASSIGN(TensorView b, file->Get("b"));
  EXPECT_EQ(SafetensorsFile::ToFloat(b), std::vector<float>({7}));
  EXPECT_THAT(file->Get("c"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'c'")));
}

TEST(SafetensorsTest, ConvertsBf16AndF16) {
  // bf16 0x3FC0 = 1.5; f16 0x3E00 = 1.5, 0x0001 = 2^-24 (subnormal).
  std::string data("\xC0\x3F\x00\x3E\x01\x00", 6);
  std::string header =
      R"({"x":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},)"
      R"("y":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}})";
  const std::string bytes = SafetensorsBytes(header, data);  // must outlive `file`
  ASSERT_OK_AND_ASSIGN(auto file, Parse(bytes));
  EXPECT_EQ(SafetensorsFile::ToFloat(*file->Get("x")),
            std::vector<float>({1.5f}));
  auto y = SafetensorsFile::ToFloat(*file->Get("y"));
  EXPECT_EQ(y[0], 1.5f);
  EXPECT_FLOAT_EQ(y[1], 5.9604645e-8f);
}

struct BadCase {
  const char* name;
  std::string bytes;
  const char* message;
};

TEST(SafetensorsTest, RejectsMalformedFilesWithClearErrors) {
  const std::string f4(4, '\0');
  std::string huge(8, '\0');
  huge[5] = 0x10;  // header length 2^44
  const BadCase cases[] = {
      {"empty", "", "shorter than the 8-byte header length"},
      {"short", "abc", "shorter than the 8-byte header length"},
      {"oversized header", huge + "{}", "exceeds the"},
      {"header past end", SafetensorsBytes("{}", "").substr(0, 9),
       "runs past the end"},
      {"not json", SafetensorsBytes("{nope", ""), "not a JSON object"},
      {"json array", SafetensorsBytes("[1]", ""), "not a JSON object"},
      {"missing fields", SafetensorsBytes(R"({"a":{"dtype":"F32"}})", f4),
       "needs dtype, shape and data_offsets"},
      {"wrong dtype",
       SafetensorsBytes(
           R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", f4),
       "unsupported dtype 'Q4'"},
      {"negative dim",
       SafetensorsBytes(
           R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", f4),
       "non-integer or negative"},
      {"truncated data",
       SafetensorsBytes(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f4),
       "outside the 4 data bytes"},
      {"reversed offsets",
       SafetensorsBytes(
           R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", f4),
       "outside"},
      {"size mismatch",
       SafetensorsBytes(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", f4),
       "holds 4 bytes but shape [2] of F32 needs 8"},
      {"overlap",
       SafetensorsBytes(
           R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           std::string(8, '\0')),
       "overlap"},
      {"huge shape",
       SafetensorsBytes(
           R"({"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}})",
           f4),
       "too large"},
      {"bad metadata", SafetensorsBytes(R"({"__metadata__":{"k":1}})", ""),
       "must be strings"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(Parse(c.bytes), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr(c.message)))
        << c.name;
  }
}

TEST(SafetensorsTest, OpenReportsMissingFile) {
  EXPECT_THAT(SafetensorsFile::Open("/nonexistent/model.safetensors"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/nonexistent/model.safetensors")));
}

}  // namespace
}  // namespace terraserve::engine
