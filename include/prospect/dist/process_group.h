#pragma once
// A Communicator over LibTorch's own c10d: TCPStore rendezvous, then ProcessGroupGloo (CPU tensors)
// or ProcessGroupNCCL (CUDA tensors, when this LibTorch has it; Gloo with CUDA tensors otherwise).
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "prospect/dist/communicator.h"
#include "prospect/dist/env.h"

namespace prospect::dist {

// Backends compiled into this build ("gloo", "nccl").
std::vector<std::string> available_backends();

// Joins the job described by env. `timeout` bounds the rendezvous (all ranks must arrive) and every
// later collective. Tensors given to the communicator must live on `device`. Errors (port in use,
// a rank that never arrives, no backend for the device) -> prospect::Error naming the problem.
std::shared_ptr<Communicator> connect(const DistEnv& env, std::chrono::milliseconds timeout,
                                      const torch::Device& device);

}  // namespace prospect::dist
