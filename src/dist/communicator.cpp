#include "prospect/dist/communicator.h"

#include "prospect/core/error.h"

namespace prospect::dist {

torch::Tensor all_gather_varlen(Communicator& comm, const torch::Tensor& local) {
  check(local.dim() >= 1, "ddp", "all_gather_varlen needs a tensor of rank >= 1");
  if (comm.world() == 1) return local;
  auto n = torch::tensor({local.size(0)}, torch::kInt64);
  auto sizes = comm.all_gather(n).reshape({-1});  // [world]
  const int64_t max_n = sizes.max().item<int64_t>();
  auto shape = local.sizes().vec();
  shape[0] = max_n;
  auto padded = torch::zeros(shape, local.options());
  if (local.size(0) > 0) padded.narrow(0, 0, local.size(0)).copy_(local);
  auto all = comm.all_gather(padded);  // [world, max_n, ...]
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < comm.world(); ++r) parts.push_back(all[r].narrow(0, 0, sizes[r].item<int64_t>()));
  return torch::cat(parts, 0);
}

int64_t all_reduce_sum(Communicator& comm, int64_t v) {
  if (comm.world() == 1) return v;
  auto t = torch::tensor({v}, torch::kInt64);
  comm.all_reduce_sum(t);
  return t.item<int64_t>();
}

double all_reduce_sum(Communicator& comm, double v) {
  if (comm.world() == 1) return v;
  auto t = torch::tensor({v}, torch::kFloat64);
  comm.all_reduce_sum(t);
  return t.item<double>();
}

void check_same_on_all_ranks(Communicator& comm, uint64_t value, const std::string& context, const std::string& what) {
  if (comm.world() == 1) return;
  auto t = torch::tensor({(int64_t)value}, torch::kInt64);
  auto all = comm.all_gather(t).reshape({-1});
  std::string differ;
  for (int r = 1; r < comm.world(); ++r)
    if (all[r].item<int64_t>() != all[0].item<int64_t>()) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (!differ.empty())
    throw Error(context, what + " differs between rank 0 and rank(s) " + differ +
                             ": every rank of a job must be started with the same configuration");
}

}  // namespace prospect::dist
