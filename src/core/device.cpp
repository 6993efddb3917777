#include "prospect/core/device.h"

#include "prospect/core/error.h"

namespace prospect {

torch::ScalarType parse_dtype(const std::string& s) {
  if (s == "f32" || s == "fp32" || s == "float32" || s == "float") return torch::kFloat32;
  if (s == "bf16" || s == "bfloat16") return torch::kBFloat16;
  if (s == "f16" || s == "fp16" || s == "float16" || s == "half") return torch::kFloat16;
  if (s == "f64" || s == "fp64" || s == "float64" || s == "double") return torch::kFloat64;
  throw Error("dtype", "unknown dtype '" + s + "' (expected f32, bf16, f16 or f64)");
}

std::string hf_dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    case torch::kFloat64: return "float64";
    default: throw Error("dtype", std::string("no Hugging Face name for ") + c10::toString(t));
  }
}

std::string short_dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "f32";
    case torch::kBFloat16: return "bf16";
    case torch::kFloat16: return "f16";
    case torch::kFloat64: return "f64";
    default: return c10::toString(t);
  }
}

torch::Device parse_device(const std::string& s) {
  if (s == "auto") return torch::cuda::is_available() ? torch::Device("cuda") : torch::Device("cpu");
  if (s == "cpu") return torch::Device("cpu");
  if (s.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw Error("device", "'" + s + "' requested but CUDA is not available in this build or machine");
    try {
      return torch::Device(s);
    } catch (const std::exception&) {
      throw Error("device", "malformed device '" + s + "'");
    }
  }
  throw Error("device", "unknown device '" + s + "' (expected cpu, cuda, cuda:N or auto)");
}

}  // namespace prospect
