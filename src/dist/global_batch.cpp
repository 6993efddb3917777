#include "prospect/dist/global_batch.h"

#include "prospect/core/error.h"

namespace prospect::dist {

namespace {

// The per-example fields of LossInputs, in a fixed order that every rank walks alike.
std::vector<torch::Tensor loss::LossInputs::*> vector_fields() {
  using L = loss::LossInputs;
  return {&L::policy_logps,    &L::ref_logps,       &L::lengths,           &L::labels,
          &L::kl_policy_logps, &L::kl_ref_logps,    &L::kl_lengths,        &L::pair_ids,
          &L::chosen_logps,    &L::rejected_logps,  &L::ref_chosen_logps,  &L::ref_rejected_logps,
          &L::chosen_lengths,  &L::rejected_lengths};
}

}  // namespace

loss::LossInputs gather_loss_inputs(Communicator& comm, const loss::LossInputs& local) {
  if (comm.world() == 1) return local;
  loss::LossInputs g = local;
  // Unpaired fields are [n], paired ones [m]: two groups, each packed into one fp64 matrix (exact for
  // fp32/bf16/fp16 values, integer counts and ids below 2^53, and bools) so that one variable-length
  // gather moves a whole group.
  auto fields = vector_fields();
  for (int group = 0; group < 2; ++group) {
    std::vector<torch::Tensor loss::LossInputs::*> members;
    for (size_t k = 0; k < fields.size(); ++k)
      if ((k < 8) == (group == 0) && (local.*fields[k]).defined()) members.push_back(fields[k]);
    // Every rank must agree on which fields are present (they run the same loss).
    uint64_t mask = 0;
    for (size_t k = 0; k < fields.size(); ++k)
      if ((k < 8) == (group == 0) && (local.*fields[k]).defined()) mask |= 1ull << k;
    auto all_masks = comm.all_gather(torch::tensor({(int64_t)mask}, torch::kInt64)).reshape({-1});
    for (int r = 0; r < comm.world(); ++r)
      check(all_masks[r].item<int64_t>() == (int64_t)mask, "ddp",
            "ranks disagree on the loss inputs (rank " + std::to_string(r) + "); are all ranks running the same loss?");
    if (members.empty()) continue;
    const int64_t n = (local.*members[0]).size(0);
    std::vector<torch::Tensor> cols;
    for (auto f : members) {
      const auto& t = local.*f;
      check(t.dim() == 1 && t.size(0) == n, "ddp", "per-example loss inputs of one group must share their length");
      cols.push_back(t.detach().to(torch::kCPU, torch::kFloat64));
    }
    auto packed = torch::stack(cols, 1);                       // [n, k]
    auto sizes = comm.all_gather(torch::tensor({n}, torch::kInt64)).reshape({-1});
    auto all = all_gather_varlen(comm, packed);                // [N, k]
    int64_t offset = 0;
    std::vector<int64_t> starts;
    for (int r = 0; r < comm.world(); ++r) starts.push_back(offset), offset += sizes[r].item<int64_t>();
    for (size_t c = 0; c < members.size(); ++c) {
      const auto& live = local.*members[c];
      auto col = all.select(1, (int64_t)c).to(live.device(), live.scalar_type());
      std::vector<torch::Tensor> parts;
      for (int r = 0; r < comm.world(); ++r)
        parts.push_back(r == comm.rank() ? live : col.narrow(0, starts[(size_t)r], sizes[r].item<int64_t>()));
      g.*members[c] = torch::cat(parts, 0);
    }
  }
  // Scalar NLL terms: the global sum, added in rank order so that every rank gets the same bits.
  for (auto f : {&loss::LossInputs::nll_sum, &loss::LossInputs::nll_count}) {
    const auto& live = local.*f;
    if (!live.defined()) continue;
    auto all = comm.all_gather(live.detach().reshape({1}).to(torch::kCPU, torch::kFloat64)).reshape({-1});
    torch::Tensor total;
    for (int r = 0; r < comm.world(); ++r) {
      auto part = r == comm.rank() ? live.reshape({}) : all[r].to(live.device(), live.scalar_type());
      total = total.defined() ? total + part : part;
    }
    g.*f = total;
  }
  return g;
}

loss::LossOutput compute_global_loss(Communicator& comm, loss::Loss& loss, const loss::LossInputs& local) {
  if (comm.world() == 1) return loss.compute(local);
  return loss.compute(gather_loss_inputs(comm, local));
}

torch::Tensor CommReducer::mean_of_means(const torch::Tensor& local_mean) const {
  if (comm_->world() == 1) return local_mean;
  auto t = local_mean.detach().to(torch::kCPU, torch::kFloat64).reshape({1}).clone();
  comm_->all_reduce_sum(t);
  return (t / (double)comm_->world()).reshape(local_mean.sizes()).to(local_mean.device(), local_mean.scalar_type());
}

torch::Tensor CommReducer::sum(const torch::Tensor& local) const {
  if (comm_->world() == 1) return local;
  auto t = local.detach().to(torch::kCPU, torch::kFloat64).reshape({-1}).clone();
  comm_->all_reduce_sum(t);
  return t.reshape(local.sizes()).to(local.device(), local.scalar_type());
}

}  // namespace prospect::dist
