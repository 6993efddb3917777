#pragma once
// Hugging Face repo ids resolved offline in the local hub cache, laid out as huggingface_hub does:
//   <cache>/models--Qwen--Qwen3-0.6B/refs/main            -> "<commit>"
//   <cache>/models--Qwen--Qwen3-0.6B/snapshots/<commit>/  files (symlinks into ../../blobs/)
//   <cache>/datasets--HuggingFaceH4--ultrafeedback_binarized/snapshots/<commit>/data/train_prefs-*.parquet
// <cache> is $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. Nothing is downloaded: a missing
// repo is one error saying where Prospect looked and the `huggingface-cli download` command to run.
#include <filesystem>
#include <string>
#include <vector>

namespace prospect::io {

std::filesystem::path hub_cache_dir();

struct HubRef {
  std::string repo_id;            // "org/name"
  std::string revision = "main";  // branch, tag or 40-hex commit
};

// "org/name" or "org/name@revision" with huggingface_hub's repo-id characters ([A-Za-z0-9_.-], no
// "--" or "..", at most 96 characters). False for anything else (paths such as "runs/x/adapter").
bool parse_repo_id(const std::string& text, HubRef& out);

struct HubSnapshot {
  std::filesystem::path dir;  // .../snapshots/<commit>
  std::string repo_id, revision, commit;
};

// kind: "model" or "dataset". Throws prospect::Error when the repo or revision is not cached.
HubSnapshot find_hub_snapshot(const HubRef& ref, const std::string& kind);

// The `huggingface-cli download ...` command that fetches a repo.
std::string hub_download_command(const HubRef& ref, const std::string& kind);

// A model, adapter or tokenizer argument. An existing local path always wins; otherwise a repo id
// (`org/name[@rev]`) resolves to its cached snapshot (or throws the "not cached" error); anything
// else is returned unchanged for the loader to report.
struct ResolvedModel {
  std::filesystem::path path;
  std::string repo_id, commit;  // empty unless resolved from the hub cache
};
ResolvedModel resolve_model_path(const std::string& spec);

// A dataset split `org/name[@rev]:split`: true when `spec` has that shape and is not a local path.
bool is_dataset_split_id(const std::string& spec);

// The split's files in the cached snapshot, in name order: data/<split>-*.parquet (the Hub's
// layout, also .jsonl/.json), data/<split>.parquet, data/<split>/*.parquet or <split>/*.parquet.
// Throws when the dataset is not cached or has no such split (listing the splits it has).
struct DatasetSplit {
  HubSnapshot snapshot;
  std::string split;
  std::vector<std::filesystem::path> files;
};
DatasetSplit resolve_dataset_split(const std::string& spec);

}  // namespace prospect::io
