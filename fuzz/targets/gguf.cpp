// GGUF files (llama.cpp models and LoRA adapters): header, metadata of every type, nested arrays,
// tensor infos, alignment and offsets, then every tensor's bytes. The reader opens paths, so each
// input is written to one file in /dev/shm per process (memory, not disk).
#include <unistd.h>

#include <fstream>
#include <string>

#include "common.h"
#include "prospect/io/gguf.h"

PROSPECT_FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/prospect-fuzz-" + std::to_string(getpid()) + ".gguf";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write((const char*)data, (std::streamsize)size);
  }
  try {
    auto g = prospect::io::GgufFile::open(path);
    for (const auto& [key, v] : g.metadata()) (void)v.value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    for (const auto& t : g.tensors()) (void)g.raw(t);
  } catch (const prospect::Error&) {
  }
  return 0;
}
