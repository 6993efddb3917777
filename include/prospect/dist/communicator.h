#pragma once
// The narrow interface through which training talks to the other ranks of a data-parallel job. The
// trainer holds one Communicator: LocalCommunicator (one process, every call an identity) or the
// c10d one (process_group.h). Every call is collective: all ranks make the same calls in the same
// order, and a failed or timed-out collective throws prospect::Error naming the operation.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace prospect::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  virtual std::string backend() const = 0;
  // In place: every tensor becomes the element-wise sum over ranks. Same shapes/dtypes on all ranks.
  virtual void all_reduce_sum(std::vector<torch::Tensor>& tensors) = 0;
  // [world, ...t.shape]: row r is rank r's t. Same shape on all ranks.
  virtual torch::Tensor all_gather(const torch::Tensor& t) = 0;
  // In place: every rank receives root's t.
  virtual void broadcast(torch::Tensor& t, int root) = 0;
  virtual void barrier() = 0;

  bool is_main() const { return rank() == 0; }
  void all_reduce_sum(torch::Tensor& t) {
    std::vector<torch::Tensor> v{t};
    all_reduce_sum(v);
  }
};

// One process: world 1, rank 0, every collective an identity.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world() const override { return 1; }
  std::string backend() const override { return "local"; }
  using Communicator::all_reduce_sum;
  void all_reduce_sum(std::vector<torch::Tensor>&) override {}
  torch::Tensor all_gather(const torch::Tensor& t) override { return t.unsqueeze(0).clone(); }
  void broadcast(torch::Tensor&, int) override {}
  void barrier() override {}
};

// Helpers over the collectives.

// 1-D tensors whose lengths differ across ranks: the concatenation in rank order (rank 0's first).
torch::Tensor all_gather_varlen(Communicator& comm, const torch::Tensor& local);
// One int64 / double summed over ranks.
int64_t all_reduce_sum(Communicator& comm, int64_t v);
double all_reduce_sum(Communicator& comm, double v);
// Throws prospect::Error(context, ...) naming the ranks whose value differs from rank 0's.
void check_same_on_all_ranks(Communicator& comm, uint64_t value, const std::string& context, const std::string& what);

}  // namespace prospect::dist
