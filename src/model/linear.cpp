#include "prospect/model/linear.h"

namespace prospect::model {

namespace {
thread_local bool g_adapters_disabled = false;
}

AdaptersDisabled::AdaptersDisabled() : prev_(g_adapters_disabled) { g_adapters_disabled = true; }
AdaptersDisabled::~AdaptersDisabled() { g_adapters_disabled = prev_; }
bool AdaptersDisabled::active() { return g_adapters_disabled; }
bool AdaptersDisabled::set_active(bool disabled) {
  bool prev = g_adapters_disabled;
  g_adapters_disabled = disabled;
  return prev;
}

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  // Uninitialised: load_model or init_model fills the values (empty() touches no memory).
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  auto base = torch::nn::functional::linear(x, weight, bias);  // [.., out]
  if (adapter && !g_adapters_disabled) return adapter->forward(x, base, weight);
  return base;
}

}  // namespace prospect::model
