// Builds safetensors bytes in memory for tests, including deliberately broken
// ones.
#ifndef TERRASERVE_TESTS_TESTING_SAFETENSORS_BUILDER_H_
#define TERRASERVE_TESTS_TESTING_SAFETENSORS_BUILDER_H_

#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace terraserve::testing {

// The file as: 8-byte little-endian header length, header, data.
inline std::string SafetensorsBytes(const std::string& header,
                                    const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// A valid file of f32 tensors, laid out in order.
class SafetensorsBuilder {
 public:
  SafetensorsBuilder& Add(const std::string& name,
                          const std::vector<int64_t>& shape,
                          const std::vector<float>& values) {
    size_t begin = data_.size();
    data_.append(reinterpret_cast<const char*>(values.data()),
                 values.size() * 4);
    header_[name] = {{"dtype", "F32"},
                     {"shape", shape},
                     {"data_offsets", {begin, data_.size()}}};
    return *this;
  }
  nlohmann::json& header() { return header_; }
  std::string Build() const { return SafetensorsBytes(header_.dump(), data_); }

 private:
  nlohmann::json header_ = nlohmann::json::object();
  std::string data_;
};

}  // namespace terraserve::testing

#endif  // TERRASERVE_TESTS_TESTING_SAFETENSORS_BUILDER_H_
