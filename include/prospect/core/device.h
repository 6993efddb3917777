#pragma once
// The one place that turns user strings into devices and dtypes.
#include <torch/torch.h>
#include <string>

namespace prospect {

// "f32"/"float32"/"fp32", "bf16"/"bfloat16", "f16"/"float16"/"fp16", "f64". Throws on anything else.
torch::ScalarType parse_dtype(const std::string& s);
// Hugging Face spelling: "float32", "bfloat16", "float16", "float64".
std::string hf_dtype_name(torch::ScalarType t);
// Short spelling used by the CLI: "f32", "bf16", "f16", "f64".
std::string short_dtype_name(torch::ScalarType t);
// "cpu", "cuda", "cuda:N", "auto" (cuda when available). Throws a clear error if cuda is asked for
// but not available.
torch::Device parse_device(const std::string& s);

}  // namespace prospect
