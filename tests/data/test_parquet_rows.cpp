// Parquet as a training data source: the same rows, in the same order, as the JSONL the independent
// writer produced (tests/golden/data/parquet), whether given as a file, a directory of shards, a glob
// or a hub dataset split -- and therefore the same prepared data (token ids, pairs, fingerprint).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "prospect/core/error.h"
#include "prospect/data/prepare.h"
#include "prospect/data/reader.h"
#include "prospect/data/sources.h"
#include "test_util.h"
#include "toy_tokenizer.h"

using namespace prospect::data;
using prospect::Error;
using prospect::test::TempDir;
namespace fs = std::filesystem;

namespace {

fs::path pq_dir() { return prospect::test::golden_dir() / "data" / "parquet"; }

void expect_same_rows(const ReadResult& got, const ReadResult& want, const std::string& what) {
  ASSERT_EQ(got.rows.size(), want.rows.size()) << what;
  EXPECT_EQ(got.total_rows, want.total_rows) << what;
  for (size_t i = 0; i < got.rows.size(); ++i) {
    const RawRow &a = got.rows[i], &b = want.rows[i];
    ASSERT_EQ(a.prompt, b.prompt) << what << " row " << i;
    ASSERT_EQ(a.chosen, b.chosen) << what << " row " << i;
    ASSERT_EQ(a.rejected, b.rejected) << what << " row " << i;
    ASSERT_EQ(a.paired, b.paired);
    ASSERT_EQ(a.conversational, b.conversational);
    ASSERT_EQ(a.row, b.row);
  }
}

}  // namespace

TEST(ParquetRows, EveryGoldenFileGivesTheJsonlRows) {
  const ReadResult want = read_rows({pq_dir() / "uf.jsonl"}, false);
  ASSERT_EQ(want.rows.size(), 40u);
  EXPECT_TRUE(want.rows[0].conversational);
  int files = 0;
  for (const auto& e : fs::directory_iterator(pq_dir()))
    if (e.path().filename().string().rfind("uf_", 0) == 0 && e.path().extension() == ".parquet") {
      const ReadResult got = read_rows({e.path()}, false);
      expect_same_rows(got, want, e.path().filename().string());
      EXPECT_EQ(got.rows[3].source, e.path().string() + ":row 4");
      ++files;
    }
  EXPECT_GE(files, 13);
}

TEST(ParquetRows, DirectoryGlobAndHubSplitKeepShardOrder) {
  const ReadResult want = read_rows({pq_dir() / "uf.jsonl"}, false);
  expect_same_rows(read_rows({pq_dir() / "shards"}, false), want, "directory");
  expect_same_rows(read_rows({pq_dir() / "shards" / "uf_part-0000*-of-00002.parquet"}, false), want, "glob");

  TempDir tmp;
  const std::string commit = "89abcdef0123456789abcdef0123456789abcdef";
  const fs::path repo = tmp / "hub" / "datasets--HuggingFaceH4--ultrafeedback_binarized";
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "snapshots" / commit / "data");
  std::ofstream(repo / "refs" / "main") << commit;
  int k = 0;
  for (const char* s : {"uf_part-00001-of-00002.parquet", "uf_part-00000-of-00002.parquet"}) {
    // Shard names as the Hub has them, files symlinked into blobs/ as huggingface_hub leaves them.
    const fs::path blob = repo / "blobs" / ("blob" + std::to_string(k++));
    fs::copy_file(pq_dir() / "shards" / s, blob);
    std::string name = std::string("train_prefs-") + std::string(s).substr(std::string("uf_part-").size());
    fs::create_symlink(fs::path("../../../blobs") / blob.filename(), repo / "snapshots" / commit / "data" / name);
  }
  setenv("HF_HUB_CACHE", (tmp / "hub").string().c_str(), 1);
  const ReadResult got = read_rows({"HuggingFaceH4/ultrafeedback_binarized:train_prefs"}, false);
  unsetenv("HF_HUB_CACHE");
  expect_same_rows(got, want, "hub split");
}

TEST(ParquetRows, PreparedDataIsIdenticalToJsonl) {
  prospect::test::ToyTokenizer tok;
  DataOptions jo;
  jo.paths = {pq_dir() / "uf.jsonl"};
  jo.max_length = 96;
  DataOptions po = jo;
  po.paths = {pq_dir() / "uf_pw_zstd_v2_dict.parquet"};
  const PreparedData a = prepare_data(jo, tok, prospect::test::toy_render);
  const PreparedData b = prepare_data(po, tok, prospect::test::toy_render);
  EXPECT_EQ(a.fingerprint, b.fingerprint);
  ASSERT_EQ(a.examples.size(), b.examples.size());
  ASSERT_EQ(a.pairs.size(), b.pairs.size());
  for (size_t i = 0; i < a.examples.size(); ++i) {
    EXPECT_EQ(a.examples[i].prompt_ids, b.examples[i].prompt_ids);
    EXPECT_EQ(a.examples[i].completion_ids, b.examples[i].completion_ids);
    EXPECT_EQ(a.examples[i].label, b.examples[i].label);
  }
}

TEST(ParquetRows, BadRowsNameFileAndRow) {
  // The types golden is not preference data: its first row has no chosen/completion columns.
  const fs::path f = pq_dir() / "types_pw_snappy_v1_dict.parquet";
  try {
    read_rows({f}, false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(f.string() + ":row 1: no 'chosen'"), std::string::npos) << e.what();
  }
  const ReadResult skipped = read_rows({f}, true);
  EXPECT_EQ(skipped.bad_rows, 36);
  EXPECT_EQ(skipped.total_rows, 36);
}

TEST(ParquetRows, EntriesThatMatchNothingAreNamed) {
  TempDir empty;
  for (const std::string& entry : {std::string("/nonexistent/x.parquet"), (pq_dir() / "nomatch-*.parquet").string(),
                                  empty.path().string()}) {
    try {
      expand_data_files({entry});
      FAIL() << entry;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(entry), std::string::npos) << e.what();
    }
  }
}
