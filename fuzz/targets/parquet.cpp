// Parquet files (HF dataset shards): footer and page headers (Thrift compact), pages (snappy, zstd,
// gzip), levels and Dremel assembly, every column. The reader opens paths, so each input is written
// to one file in /dev/shm per process (memory, not disk) and read whole.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common.h"
#include "prospect/io/parquet.h"

PROSPECT_FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/prospect-fuzz-" + std::to_string(getpid()) + ".parquet";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write((const char*)data, (std::streamsize)size);
  }
  try {
    prospect::io::ParquetReader r(path);
    (void)r.schema();
    for (int g = 0; g < r.num_row_groups(); ++g) (void)r.read_row_group(g);
  } catch (const prospect::Error&) {
  }
  return 0;
}
