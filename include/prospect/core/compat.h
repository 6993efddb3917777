#pragma once
// Every difference between LibTorch 1.13 (Debian, CPU) and LibTorch 2.x (CUDA) lives here.
#include <torch/torch.h>
#include <torch/version.h>

#define PROSPECT_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace prospect::compat {

// Scaled dot-product attention over q [B,H,S,D], k/v [B,H,P+S,D] (kv heads already repeated).
// mask: additive float mask broadcastable to [B,H,S,P+S], or undefined with is_causal.
// LibTorch 2.x dispatches to the fused kernels (flash / memory-efficient); 1.13 uses the eager
// formula of transformers (scores in the input dtype, softmax in fp32, cast back).
inline torch::Tensor sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                          const torch::Tensor& mask, bool is_causal, double scale) {
#if PROSPECT_TORCH_AT_LEAST(2, 1)
  // LibTorch 2.x takes an optional mask (an undefined tensor is rejected), and its is_causal mask is
  // aligned top-left, which is wrong when the queries are the last S of K positions (KV cache):
  // then the bottom-right aligned causal mask is passed explicitly.
  c10::optional<at::Tensor> m;
  bool causal = false;
  if (mask.defined()) {
    m = mask;
  } else if (is_causal) {
    const int64_t S = q.size(-2), K = k.size(-2);
    if (S == K) {
      causal = true;
    } else if (S > 1) {
      m = torch::ones({S, K}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).tril(K - S);
    }
  }
  return at::scaled_dot_product_attention(q, k, v, m, 0.0, causal, scale);
#else
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  if (mask.defined()) {
    scores = scores + mask;
  } else if (is_causal) {
    const int64_t S = q.size(-2), K = k.size(-2);
    auto causal = torch::ones({S, K}, torch::TensorOptions().dtype(torch::kBool).device(q.device()))
                      .tril(K - S);
    scores = scores.masked_fill(causal.logical_not(), -std::numeric_limits<float>::infinity());
  }
  // Low-precision scores are softmaxed in fp32; fp64 stays fp64 (its finfo.min mask would become
  // -inf in fp32, and a fully masked padding row would turn into NaN and reach real rows through V).
  const auto st = q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto p = torch::softmax(scores.to(st), -1).to(q.scalar_type());
  return torch::matmul(p, v);
#endif
}

inline bool cuda_available() { return torch::cuda::is_available(); }

}  // namespace prospect::compat
