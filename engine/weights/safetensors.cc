#include "engine/weights/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"

namespace terraserve::engine {
namespace {

absl::StatusOr<DType> ParseDType(const std::string& s) {
  if (s == "F32") return DType::kF32;
  if (s == "BF16") return DType::kBF16;
  if (s == "F16") return DType::kF16;
  if (s == "I32") return DType::kI32;
  if (s == "I64") return DType::kI64;
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported dtype '", s, "' (F32, BF16, F16, I32, I64)"));
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  int exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      bits =
          sign | (static_cast<uint32_t>(exp) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | (static_cast<uint32_t>(exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

absl::StatusOr<TensorView> ParseEntry(const std::string& name,
                                      const nlohmann::json& info,
                                      const uint8_t* data, uint64_t data_size) {
  auto err = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': ", what));
  };
  if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") ||
      !info.contains("data_offsets")) {
    return err("needs dtype, shape and data_offsets");
  }
  if (!info["dtype"].is_string()) return err("dtype is not a string");
  auto dtype = ParseDType(info["dtype"].get<std::string>());
  if (!dtype.ok()) return err(std::string(dtype.status().message()));
  TensorView view;
  view.dtype = *dtype;
  const auto& shape = info["shape"];
  if (!shape.is_array() || shape.size() > 8)
    return err("shape must be an array of <= 8 dims");
  uint64_t elements = 1;
  for (const auto& dim : shape) {
    if (!dim.is_number_unsigned())
      return err("shape has a non-integer or negative dim");
    uint64_t d = dim.get<uint64_t>();
    if (d > (1ull << 40) || (d != 0 && elements > (1ull << 40) / d)) {
      return err("shape is too large");
    }
    elements *= d;
    view.shape.push_back(static_cast<int64_t>(d));
  }
  const auto& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 ||
      !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
    return err("data_offsets must be two non-negative integers");
  }
  uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
  if (begin > end || end > data_size) {
    return err(absl::StrCat("data_offsets [", begin, ", ", end,
                            ") outside the ", data_size,
                            " data bytes (file truncated?)"));
  }
  if (end - begin != elements * DTypeSize(view.dtype)) {
    return err(absl::StrCat("holds ", end - begin, " bytes but shape ",
                            view.ShapeString(), " of ", DTypeName(view.dtype),
                            " needs ", elements * DTypeSize(view.dtype)));
  }
  view.data = data + begin;
  view.num_bytes = end - begin;
  return view;
}

}  // namespace

absl::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kBF16:
      return "BF16";
    case DType::kF16:
      return "F16";
    case DType::kI32:
      return "I32";
    case DType::kI64:
      return "I64";
  }
  return "?";
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kBF16:
    case DType::kF16:
      return 2;
    case DType::kI64:
      return 8;
  }
  return 0;
}

int64_t TensorView::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorView::ShapeString() const {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": ", strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a regular file"));
  }
  size_t size = static_cast<size_t>(st.st_size);
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  if (size > 0) {
    void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      return absl::InternalError(
          absl::StrCat("cannot map ", path, ": ", strerror(errno)));
    }
    file->mapping_ = map;
    file->mapping_size_ = size;
  }
  ::close(fd);
  absl::Status s =
      file->Parse(static_cast<const uint8_t*>(file->mapping_), size);
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::FromBuffer(
    const uint8_t* bytes, size_t size) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  TS_RETURN_IF_ERROR(file->Parse(bytes, size));
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_size_);
}

absl::Status SafetensorsFile::Parse(const uint8_t* bytes, size_t size) {
  if (size < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "file is ", size, " bytes, shorter than the 8-byte header length"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat("header length ", header_len,
                                                   " exceeds the ",
                                                   kMaxHeaderBytes, " limit"));
  }
  if (header_len > size - 8) {
    return absl::InvalidArgumentError(absl::StrCat("header length ", header_len,
                                                   " runs past the end of the ",
                                                   size, "-byte file"));
  }
  nlohmann::json header =
      nlohmann::json::parse(bytes + 8, bytes + 8 + header_len, nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return absl::InvalidArgumentError("header is not a JSON object");
  }
  const uint8_t* data = bytes + 8 + header_len;
  uint64_t data_size = size - 8 - header_len;
  std::vector<std::pair<uint64_t, std::pair<uint64_t, std::string>>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object())
        return absl::InvalidArgumentError("__metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) {
          return absl::InvalidArgumentError(
              "__metadata__ values must be strings");
        }
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    TS_ASSIGN_OR_RETURN(TensorView view,
                        ParseEntry(it.key(), it.value(), data, data_size));
    uint64_t begin = static_cast<uint64_t>(view.data - data);
    ranges.push_back({begin, {begin + view.num_bytes, it.key()}});
    tensors_[it.key()] = std::move(view);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second.first) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensors '", ranges[i - 1].second.second, "' and '",
                       ranges[i].second.second, "' overlap"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorView> SafetensorsFile::Get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    return absl::NotFoundError(absl::StrCat("missing tensor '", name, "'"));
  return it->second;
}

std::vector<float> SafetensorsFile::ToFloat(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.num_elements()));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = t.data + i * DTypeSize(t.dtype);
    switch (t.dtype) {
      case DType::kF32:
        std::memcpy(&out[i], p, 4);
        break;
      case DType::kBF16: {
        uint32_t bits = static_cast<uint32_t>(p[0] | (p[1] << 8)) << 16;
        std::memcpy(&out[i], &bits, 4);
        break;
      }
      case DType::kF16:
        out[i] = HalfToFloat(static_cast<uint16_t>(p[0] | (p[1] << 8)));
        break;
      case DType::kI32: {
        int32_t v;
        std::memcpy(&v, p, 4);
        out[i] = static_cast<float>(v);
        break;
      }
      case DType::kI64: {
        int64_t v;
        std::memcpy(&v, p, 8);
        out[i] = static_cast<float>(v);
        break;
      }
    }
  }
  return out;
}

}  // namespace terraserve::engine
