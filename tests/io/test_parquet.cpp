// The Parquet reader against files written by independent writers (parquet-wasm = Rust arrow-rs, and
// the pure-JS hyparquet-writer; tests/golden/data/parquet/make.mjs), each read back equal to the JSONL
// the same script wrote. Then: column skipping, schema text, and a deterministic corruption loop
// (truncations, byte flips) that must only ever produce prospect::Error naming the file.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "prospect/core/error.h"
#include "prospect/io/parquet.h"
#include "test_util.h"

using namespace prospect;
using prospect::test::read_jsonl_rows;
using prospect::test::TempDir;
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

fs::path pq_dir() { return prospect::test::golden_dir() / "data" / "parquet"; }

std::vector<ojson> read_parquet(const fs::path& p, const std::vector<std::string>& columns = {}) {
  std::vector<ojson> rows;
  io::for_each_parquet_row(p, columns, [&](ojson&& r, int64_t i) {
    EXPECT_EQ(i, (int64_t)rows.size());
    rows.push_back(std::move(r));
  });
  return rows;
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_bytes(const fs::path& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }

// The reference rows of a golden file: uf.jsonl, types.jsonl, or types without `grid` (hyparquet-writer).
fs::path reference_for(const std::string& name) {
  if (name.rfind("uf_", 0) == 0) return pq_dir() / "uf.jsonl";
  if (name.rfind("types_hy_", 0) == 0) return pq_dir() / "types_nogrid.jsonl";
  return pq_dir() / "types.jsonl";
}

std::vector<std::string> golden_files() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(pq_dir()))
    if (e.path().extension() == ".parquet") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

class ParquetGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ParquetGolden, ReadsBackEqualToTheWritersJsonl) {
  const fs::path file = pq_dir() / GetParam();
  const auto expected = read_jsonl_rows(reference_for(GetParam()));
  ASSERT_FALSE(expected.empty());
  io::ParquetReader r(file);
  EXPECT_EQ(r.num_rows(), (int64_t)expected.size());
  EXPECT_GT(r.num_row_groups(), 1) << "goldens are written with several row groups";
  const auto rows = read_parquet(file);
  ASSERT_EQ(rows.size(), expected.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    // Ordered comparison: keys come out in schema order, as the writer's objects had them.
    ASSERT_EQ(rows[i], expected[i]) << GetParam() << " row " << i << "\n got: " << rows[i].dump()
                                    << "\nwant: " << expected[i].dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Files, ParquetGolden, ::testing::ValuesIn(golden_files()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = fs::path(i.param).stem().string();
                           for (char& c : n)
                             if (!std::isalnum((unsigned char)c)) c = '_';
                           return n;
                         });

TEST(Parquet, GoldenSetCoversWritersCodecsAndPageVersions) {
  // Guards the matrix itself: if make.mjs loses a variant, this fails rather than silently testing less.
  const auto files = golden_files();
  for (const char* f : {"uf_pw_uncompressed_v1_dict.parquet", "uf_pw_snappy_v2_dict.parquet", "uf_pw_gzip_v1_dict.parquet",
                        "uf_pw_zstd_v2_dict.parquet", "uf_pw_snappy_v1_plain.parquet", "uf_pw_zstd_v2_delta.parquet",
                        "uf_hy_gzip_v2.parquet", "uf_pw_uncompressed_v1_plaindict.parquet", "types_hy_none_v2_delta.parquet", "types_pw_zstd_v2_delta.parquet"})
    EXPECT_NE(std::find(files.begin(), files.end(), f), files.end()) << f;
}

TEST(Parquet, ShardsInNameOrderAreTheJsonlRows) {
  std::vector<ojson> rows;
  for (const char* s : {"uf_part-00000-of-00002.parquet", "uf_part-00001-of-00002.parquet"})
    for (auto& r : read_parquet(pq_dir() / "shards" / s)) rows.push_back(std::move(r));
  EXPECT_EQ(rows, read_jsonl_rows(pq_dir() / "uf.jsonl"));
}

TEST(Parquet, SchemaUsesArrowStyleTypes) {
  io::ParquetReader uf(pq_dir() / "uf_pw_snappy_v1_dict.parquet");
  const std::vector<std::pair<std::string, std::string>> want = {
      {"prompt", "string"},
      {"prompt_id", "string"},
      {"chosen", "list<struct<content: string, role: string>>"},
      {"rejected", "list<struct<content: string, role: string>>"},
      {"messages", "list<struct<content: string, role: string>>"},
      {"score_chosen", "double"},
      {"score_rejected", "double"}};
  EXPECT_EQ(uf.schema(), want);
  io::ParquetReader types(pq_dir() / "types_pw_snappy_v1_dict.parquet");
  auto s = types.schema();
  ASSERT_EQ(s.size(), 11u);
  EXPECT_EQ(s[1].second, "int32");
  EXPECT_EQ(s[3].second, "float");
  EXPECT_EQ(s[5].second, "bool");
  EXPECT_EQ(s[9].second, "struct<a: int32, b: string>");
  EXPECT_EQ(s[10].second, "list<list<int32>>");
}

TEST(Parquet, SelectedColumnsOnlyAndSkippedColumnsAreNeverDecoded) {
  TempDir tmp;
  // Break the first PLAIN length prefix of prompt_id's dictionary (its values are unique 64-hex
  // strings): decoding that column must now fail, reading the others must not notice.
  std::string b = bytes_of(pq_dir() / "uf_pw_uncompressed_v1_dict.parquet");
  const std::string id0 = read_jsonl_rows(pq_dir() / "uf.jsonl")[0]["prompt_id"].get<std::string>();
  const size_t at = b.find(id0);
  ASSERT_NE(at, std::string::npos);
  ASSERT_GE(at, 4u);
  for (size_t k = at - 4; k < at; ++k) b[k] = '\xff';
  const fs::path broken = tmp / "broken.parquet";
  write_bytes(broken, b);

  const auto rows = read_parquet(broken, {"prompt", "chosen", "score_rejected", "not_a_column"});
  const auto expected = read_jsonl_rows(pq_dir() / "uf.jsonl");
  ASSERT_EQ(rows.size(), expected.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 3u);
    EXPECT_EQ(rows[i]["prompt"], expected[i]["prompt"]);
    EXPECT_EQ(rows[i]["chosen"], expected[i]["chosen"]);
    EXPECT_EQ(rows[i]["score_rejected"], expected[i]["score_rejected"]);
  }
  try {
    read_parquet(broken, {"prompt_id"});
    FAIL() << "corrupt prompt_id column was read";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(broken.string()), std::string::npos) << m;
    EXPECT_NE(m.find("column 'prompt_id'"), std::string::npos) << m;
  }
}

TEST(Parquet, NotParquetAndTruncatedFilesNameTheFile) {
  TempDir tmp;
  write_bytes(tmp / "a.parquet", "{\"prompt\": \"x\"}\n");
  const std::string full = bytes_of(pq_dir() / "uf_pw_snappy_v1_dict.parquet");
  write_bytes(tmp / "b.parquet", full.substr(0, full.size() - 100));
  for (const char* f : {"a.parquet", "b.parquet", "missing.parquet"}) {
    try {
      io::ParquetReader r(tmp / f);
      FAIL() << f;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find((tmp / f).string()), std::string::npos) << e.what();
    }
  }
}

// Deterministic corruption loop: every truncation length and byte flips at a stride over the whole
// file (footer, page headers, levels, values, compressed streams). Each attempt either decodes or
// throws prospect::Error naming the file; anything else (a crash, another exception type) fails.
// Run under ASan/UBSan in the sanitizer build.
TEST(Parquet, TruncatedAndByteFlippedFilesGiveCleanErrors) {
  TempDir tmp;
  // Thousands of rewrites of one small file: in memory (/dev/shm) when the machine has it.
  std::error_code ec;
  const fs::path f = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") / ("prospect-fuzz-" + tmp.path().filename().string() + ".parquet")
                                                      : tmp / "fuzz.parquet";
  struct Remove {
    fs::path p;
    ~Remove() {
      std::error_code e;
      fs::remove(p, e);
    }
  } remove_at_exit{f};
  int errors = 0, decoded = 0;
  auto attempt = [&](const std::string& bytes) {
    write_bytes(f, bytes);
    try {
      size_t n = 0;
      io::for_each_parquet_row(f, {}, [&](ojson&& r, int64_t) { n += r.size(); });
      ++decoded;
    } catch (const Error& e) {
      ++errors;
      ASSERT_NE(std::string(e.what()).find(f.string()), std::string::npos) << e.what();
    }
  };
  for (const char* name : {"types_pw_gzip_v2_dict.parquet", "types_hy_none_v2_delta.parquet", "uf_pw_zstd_v1_dict.parquet"}) {
    const std::string b = bytes_of(pq_dir() / name);
    for (size_t cut = 0; cut < b.size(); cut += 29) attempt(b.substr(0, cut));
    for (size_t p = 0; p < b.size(); p += 23)
      for (unsigned char mask : {0x01, 0x80, 0xff}) {
        std::string d = b;
        d[p] = (char)(d[p] ^ mask);
        attempt(d);
      }
  }
  EXPECT_GT(errors, 500);
  EXPECT_GT(decoded, 100);  // flips inside string bytes decode to other strings
}

// fuzz/regressions/parquet: each input once crashed the parquet target (levels that do not fit the
// schema). Replayed through what the target does: one prospect::Error naming the file.
TEST(Parquet, FuzzRegressionsGiveOneCleanError) {
  auto inputs = prospect::test::fuzz_regressions("parquet");
  ASSERT_FALSE(inputs.empty());
  for (const auto& f : inputs) {
    try {
      io::ParquetReader r(f);
      (void)r.schema();
      for (int g = 0; g < r.num_row_groups(); ++g) (void)r.read_row_group(g);
      ADD_FAILURE() << f << " was read without an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(f.filename().string()), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << f << ": not a prospect::Error: " << e.what();
    }
  }
}
