#include "prospect/dist/grad_sync.h"

#include "prospect/core/error.h"

namespace prospect::dist {

int64_t all_reduce_gradients(Communicator& comm, const std::vector<torch::Tensor>& params, double divisor,
                             int64_t bucket_bytes) {
  check(divisor > 0, "ddp", "gradient divisor must be > 0");
  if (comm.world() == 1 && divisor == 1.0) return 0;
  torch::NoGradGuard ng;
  int64_t calls = 0;
  size_t i = 0;
  while (i < params.size()) {
    // One bucket: consecutive parameters of one dtype and device, up to bucket_bytes (at least one).
    const auto opts = params[i].options();
    std::vector<size_t> members;
    int64_t bytes = 0;
    while (i < params.size() && params[i].scalar_type() == opts.dtype().toScalarType() &&
           params[i].device() == opts.device() &&
           (members.empty() || bytes + params[i].numel() * (int64_t)params[i].element_size() <= bucket_bytes)) {
      bytes += params[i].numel() * (int64_t)params[i].element_size();
      members.push_back(i++);
    }
    std::vector<torch::Tensor> flat_parts;
    for (size_t k : members) {
      auto& p = params[k];
      flat_parts.push_back(p.grad().defined() ? p.grad().reshape({-1}) : torch::zeros({p.numel()}, p.options()));
    }
    auto flat = torch::cat(flat_parts);
    comm.all_reduce_sum(flat);
    ++calls;
    if (divisor != 1.0) flat.div_(divisor);
    int64_t off = 0;
    for (size_t k : members) {
      auto p = params[k];  // shared handle: mutable_grad() writes through
      auto g = flat.narrow(0, off, p.numel()).view(p.sizes());
      if (p.grad().defined()) p.grad().copy_(g);
      else p.mutable_grad() = g.clone();
      off += p.numel();
    }
  }
  return calls;
}

}  // namespace prospect::dist
