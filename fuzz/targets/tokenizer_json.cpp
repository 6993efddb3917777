// tokenizer.json: construction (model, normalizers, pre-tokenizers, added tokens, post-processor,
// decoders), then an encode/decode round over fixed text that exercises each stage.
#include <nlohmann/json.hpp>

#include "common.h"
#include "prospect/tokenizer/hf_tokenizer.h"

PROSPECT_FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  try {
    prospect::tokenizer::HfTokenizer tok(j, "fuzz/tokenizer.json");
    tok.set_num_threads(1);
    for (const char* s : {"Hello world! 123", "  ünïcödé\n\t<|endoftext|> x", ""}) {
      auto ids = tok.encode(s, true);
      (void)tok.decode(ids, false);
      (void)tok.decode(ids, true);
    }
    (void)tok.decode({0, 1, 2, -1, 1 << 30}, false);
  } catch (const prospect::Error&) {
  }
  return 0;
}
