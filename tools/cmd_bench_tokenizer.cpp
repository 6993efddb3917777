// `prospect bench-tokenizer` (hidden): encoding throughput in MB/s on a text corpus, one document per
// line (JSONL {"text": ...} lines or plain text lines). Reports a cold single-threaded pass, a warm
// single-threaded pass (piece cache filled) and a cold batched pass on a fresh tokenizer.
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "command.h"
#include "hub_option.h"
#include "prospect/core/error.h"
#include "prospect/tokenizer/tokenizer.h"

namespace prospect::cli {
namespace {

struct BenchOptions {
  std::string tokenizer, input;
  int threads = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run_bench(const BenchOptions& o) {
  std::ifstream in(o.input, std::ios::binary);
  if (!in) throw Error(o.input, "cannot open");
  std::vector<std::string> docs;
  std::string line;
  size_t bytes = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '{') {
      try {
        auto j = nlohmann::json::parse(line);
        if (j.contains("text") && j["text"].is_string()) line = j["text"].get<std::string>();
      } catch (const std::exception&) {
      }
    }
    bytes += line.size();
    docs.push_back(std::move(line));
  }
  if (docs.empty()) throw Error(o.input, "no text");
  double mb = bytes / 1e6;
  int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  auto tok = tokenizer::Tokenizer::load(o.tokenizer);
  size_t ntok = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& d : docs) ntok += tok->encode(d).size();
  double cold = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (const auto& d : docs) tok->encode(d);
  double warm = seconds_since(t0);

  auto tok2 = tokenizer::Tokenizer::load(o.tokenizer);
  tok2->set_num_threads(threads);
  t0 = std::chrono::steady_clock::now();
  auto batch = tok2->encode_batch(docs);
  double batched = seconds_since(t0);

  nlohmann::json r = {{"documents", docs.size()},         {"megabytes", mb},
                      {"tokens", ntok},                   {"single_cold_mb_s", mb / cold},
                      {"single_warm_mb_s", mb / warm},    {"batch_threads", threads},
                      {"batch_cold_mb_s", mb / batched}};
  std::cout << r.dump() << "\n";
  return 0;
}

RunFn setup(CLI::App& app) {
  app.group("");  // hidden from --help
  auto o = std::make_shared<BenchOptions>();
  app.add_option("--tokenizer", o->tokenizer, "tokenizer directory")->transform(prospect::cli::hub_path())->required();
  app.add_option("--input", o->input, "corpus: one document per line (text or {\"text\": ...})")->required();
  app.add_option("--threads", o->threads, "threads for the batched pass (default: all cores)");
  return [o] { return run_bench(*o); };
}

}  // namespace
PROSPECT_COMMAND("bench-tokenizer", "tokenizer encoding throughput (MB/s)", setup);
}  // namespace prospect::cli
