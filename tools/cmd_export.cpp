// `prospect export`: a model (optionally with an adapter merged) as a standalone Hugging Face directory
// (--format hf, as `prospect merge`, with a model card when the run's metadata is found), as one GGUF
// file for llama.cpp (--format gguf, --dtype f32|f16|bf16|q8_0|q4_k_m), or an adapter alone as
// llama.cpp's LoRA-adapter GGUF (--format gguf-lora).
#include <iostream>

#include "command.h"
#include "hub_option.h"
#include "merge_export.h"
#include "prospect/lora/gguf_export.h"

namespace {

struct GgufArgs {
  std::string tokenizer, name;
};

void check_gguf_out(const prospect::cli::MergeExportArgs& a) {
  using prospect::check;
  const prospect::fs::path out(a.out);
  check(!prospect::fs::is_directory(out), out.string(), "--format gguf writes a file; this is a directory");
  check(!prospect::fs::exists(out) || a.force, out.string(), "output exists (use --force to replace it)");
  if (out.has_parent_path()) prospect::fs::create_directories(out.parent_path());
}

int run_gguf(const prospect::cli::MergeExportArgs& a, const GgufArgs& g) {
  using namespace prospect;
  check_gguf_out(a);
  lora::GgufExportOptions o;
  o.model_dir = a.model;
  if (!a.adapter.empty()) o.adapter_dir = fs::path(a.adapter);
  if (!g.tokenizer.empty()) o.tokenizer_dir = fs::path(g.tokenizer);
  std::string d = a.dtype.empty() ? "f16" : a.dtype;
  if (d == "float32") d = "f32";
  if (d == "float16") d = "f16";
  if (d == "bfloat16") d = "bf16";
  o.dtype = model::parse_gguf_dtype(d);
  o.name = g.name;
  o.device = parse_device(a.device);
  if (a.tolerance_f32 >= 0) o.tolerance_f32 = a.tolerance_f32;
  auto summary = lora::export_gguf(o, a.out);
  summary["command"] = "export";
  std::cout << summary.dump() << std::endl;
  return 0;
}

int run_gguf_lora(const prospect::cli::MergeExportArgs& a, const GgufArgs& g) {
  using namespace prospect;
  check(!a.adapter.empty(), "--adapter", "--format gguf-lora needs the adapter directory");
  check_gguf_out(a);
  lora::GgufLoraOptions o;
  o.adapter_dir = a.adapter;
  o.model_dir = a.model;
  o.name = g.name;
  const std::string d = a.dtype.empty() ? "f32" : a.dtype;
  if (d == "f32" || d == "float32") o.type = io::GgmlType::F32;
  else if (d == "f16" || d == "float16") o.type = io::GgmlType::F16;
  else if (d == "bf16" || d == "bfloat16") o.type = io::GgmlType::BF16;
  else throw Error("--dtype", "a LoRA GGUF stores f32, f16 or bf16 (got '" + d + "')");
  auto summary = lora::export_gguf_lora(o, a.out);
  summary["command"] = "export";
  std::cout << summary.dump() << std::endl;
  return 0;
}

prospect::cli::RunFn setup_export(CLI::App& app) {
  auto a = std::make_shared<prospect::cli::MergeExportArgs>();
  auto g = std::make_shared<GgufArgs>();
  app.add_option("--model", a->model, "model directory (Hugging Face layout); the base model for gguf-lora")->transform(prospect::cli::hub_path())->required();
  app.add_option("--adapter", a->adapter, "adapter directory (PEFT layout): merged for hf/gguf, converted for gguf-lora")->transform(prospect::cli::hub_path());
  app.add_option("--format", a->format, "output format: hf (default), gguf or gguf-lora")
      ->check(CLI::IsMember({"hf", "gguf", "gguf-lora"}));
  app.add_option("--tokenizer", g->tokenizer, "gguf: tokenizer directory (default: the model directory)");
  app.add_option("--name", g->name, "gguf: general.name (default: the model or adapter directory's name)");
  prospect::cli::add_common_options(app, *a, /*gguf_dtypes=*/true);
  return [a, g] {
    if (a->format == "gguf") return run_gguf(*a, *g);
    if (a->format == "gguf-lora") return run_gguf_lora(*a, *g);
    prospect::check(a->dtype != "q8_0" && a->dtype != "q4_k_m", "--dtype", a->dtype + " is a GGUF type (use --format gguf)");
    return prospect::cli::run_merge_export(*a, "export");
  };
}

}  // namespace

PROSPECT_COMMAND("export",
                 "export a model (with an optional adapter merged) as a Hugging Face directory or a GGUF file, or an "
                 "adapter as a llama.cpp LoRA GGUF",
                 setup_export);
