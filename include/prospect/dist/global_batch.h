#pragma once
// The loss of a data-parallel step is defined over the GLOBAL micro-batch (every rank's slice, in
// the single-process order), so that a run's result does not depend on how many processes computed
// it: KL reference point, odds-ratio pairs, BCO's δ, token-count normalisers and every metric are
// those a single process would compute. Each rank gathers the per-example statistics (scalars per
// example: cheap) of all ranks, keeps its own slice live for autograd and the others as constants,
// and computes the same global loss. The gradient of that loss reaches only this rank's examples,
// so the SUM over ranks of the parameter gradients is exactly the single-process gradient.
#include "prospect/dist/communicator.h"
#include "prospect/loss/loss.h"

namespace prospect::dist {

// Gathers every defined per-example field ([n], n may differ across ranks) and the scalar NLL terms
// (summed) of `local` into the inputs of the global micro-batch. Fields must be defined on all
// ranks alike. World 1: returns `local` unchanged.
loss::LossInputs gather_loss_inputs(Communicator& comm, const loss::LossInputs& local);

// Computes loss.compute() over the global micro-batch (identity path in a single process).
loss::LossOutput compute_global_loss(Communicator& comm, loss::Loss& loss, const loss::LossInputs& local);

// loss::Reducer over a communicator: mean of per-rank means, global sums. For losses computed on
// per-rank batches (the trainer computes on the global batch and does not need it).
class CommReducer : public loss::Reducer {
 public:
  explicit CommReducer(std::shared_ptr<Communicator> comm) : comm_(std::move(comm)) {}
  torch::Tensor mean_of_means(const torch::Tensor& local_mean) const override;
  torch::Tensor sum(const torch::Tensor& local) const override;
  int world_size() const override { return comm_->world(); }

 private:
  std::shared_ptr<Communicator> comm_;
};

}  // namespace prospect::dist
