// JSON configs: a model config.json, a PEFT adapter_config.json, and a recipe's strict "lora" block
// (the strict ConfigReader every recipe section uses), all from the same document.
#include <nlohmann/json.hpp>

#include "common.h"
#include "prospect/lora/config.h"
#include "prospect/model/config.h"

PROSPECT_FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;  // read_json_file turns this into a file:line error
  }
  try {
    auto c = prospect::model::ModelConfig::from_json(j);
    (void)c.to_json("bfloat16");
  } catch (const prospect::Error&) {
  }
  try {
    (void)prospect::lora::LoraConfig::from_peft_json(j);
  } catch (const prospect::Error&) {
  }
  try {
    (void)prospect::lora::LoraConfig::from_json(j);
  } catch (const prospect::Error&) {
  }
  return 0;
}
