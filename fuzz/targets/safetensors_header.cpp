// safetensors: the whole file image (8-byte length, JSON header, data) through the header validator
// that SafetensorsFile::open runs before any tensor is mapped.
#include "common.h"
#include "prospect/io/safetensors_header.h"

PROSPECT_FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto h = prospect::io::parse_safetensors_header(data, size, "fuzz.safetensors");
    // Invariants the loader relies on: every span lies inside the file.
    for (const auto& [name, t] : h.tensors)
      if (h.data_offset + t.end > size || t.begin > t.end) __builtin_trap();
  } catch (const prospect::Error&) {
  }
  return 0;
}
