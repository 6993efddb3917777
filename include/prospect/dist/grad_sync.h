#pragma once
// Gradient synchronisation in flattened buckets over plain all-reduce (the same on LibTorch 1.13 and
// 2.x, whose c10d Reducer constructors differ). Gloo rejects ReduceOp::AVG, so averaging is a sum
// followed by a division.
#include <torch/torch.h>

#include <vector>

#include "prospect/dist/communicator.h"

namespace prospect::dist {

// Replaces each parameter's .grad by (Σ over ranks) / divisor. Parameters without a gradient on
// this rank contribute zeros (and receive the sum). Buckets hold at most bucket_bytes of one dtype
// and device. Returns the number of all-reduce calls made.
int64_t all_reduce_gradients(Communicator& comm, const std::vector<torch::Tensor>& params, double divisor = 1.0,
                             int64_t bucket_bytes = 25ll << 20);

}  // namespace prospect::dist
