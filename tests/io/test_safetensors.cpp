#include <gtest/gtest.h>

#include <fstream>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/io/checkpoint.h"
#include "prospect/io/safetensors.h"
#include "test_util.h"

using namespace prospect;
using namespace prospect::io;
using prospect::test::TempDir;

namespace {

// Writes a safetensors file by hand: u64 header length, the header text as given, then `data`.
void write_raw(const std::filesystem::path& p, const std::string& header, const std::string& data,
               int64_t length_override = -1) {
  std::ofstream f(p, std::ios::binary);
  uint64_t n = length_override >= 0 ? (uint64_t)length_override : header.size();
  for (int i = 0; i < 8; ++i) f.put((char)((n >> (8 * i)) & 0xff));
  f << header << data;
}

std::string read_bytes(const std::filesystem::path& p) { return read_text_file(p); }

// Expects SafetensorsFile::open to fail with a message containing the file name and every fragment.
void expect_rejected(const std::filesystem::path& p, const std::vector<std::string>& fragments) {
  try {
    SafetensorsFile::open(p);
    FAIL() << "expected rejection of " << p;
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(p.string()), std::string::npos) << m;
    for (const auto& f : fragments) EXPECT_NE(m.find(f), std::string::npos) << "missing '" << f << "' in: " << m;
  }
}

}  // namespace

TEST(Safetensors, RoundTripEveryDtype) {
  TempDir tmp;
  NamedTensors ts;
  auto base = torch::arange(-6, 6, torch::kFloat64).reshape({3, 4}) * 1.5;  // exact in every float type
  ts.emplace_back("f64", base.clone());
  ts.emplace_back("f32", base.to(torch::kFloat32));
  ts.emplace_back("f16", base.to(torch::kFloat16));
  ts.emplace_back("bf16", base.to(torch::kBFloat16));
  ts.emplace_back("i64", torch::arange(-5, 7, torch::kInt64).reshape({2, 6}) * (int64_t)1000000000000);
  ts.emplace_back("i32", torch::arange(-5, 7, torch::kInt32) * 100000);
  ts.emplace_back("i16", torch::arange(-5, 7, torch::kInt16) * 1000);
  ts.emplace_back("i8", torch::arange(-5, 7, torch::kInt8));
  ts.emplace_back("u8", torch::arange(240, 252, torch::kInt32).to(torch::kUInt8));
  ts.emplace_back("bool", torch::arange(0, 12, torch::kInt64).remainder(3).eq(0));
  ts.emplace_back("scalar", torch::tensor(3.25f).reshape({}));
  ts.emplace_back("empty", torch::zeros({0, 5}, torch::kFloat32));
  ts.emplace_back("noncontig", base.to(torch::kFloat32).t());
  const auto p = tmp / "all.safetensors";
  save_safetensors(p, ts, {{"format", "pt"}, {"note", "hello"}});

  // Header length is a multiple of 8 and the file is exactly header + data.
  std::string bytes = read_bytes(p);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | (uint8_t)bytes[i];
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');

  auto f = SafetensorsFile::open(p);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("note"), "hello");
  EXPECT_EQ(f->tensors().size(), ts.size());
  for (const auto& [name, t] : ts) {
    auto got = f->get(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(got, t.contiguous())) << name;
  }
  EXPECT_EQ(f->tensors().at("bf16").dtype, "BF16");
  EXPECT_EQ(f->tensors().at("scalar").shape.size(), 0u);
  // Views stay valid after the file object is gone (the mapping is shared with the view).
  auto v = f->get("f32");
  f.reset();
  EXPECT_TRUE(torch::equal(v, base.to(torch::kFloat32)));
  // Writing into a view is private (copy-on-write), never a crash and never reaching the file.
  v.add_(1);
  EXPECT_TRUE(torch::equal(SafetensorsFile::open(p)->get("f32"), base.to(torch::kFloat32)));
}

TEST(Safetensors, DtypeTables) {
  EXPECT_EQ(dtype_from_safetensors("BF16"), torch::kBFloat16);
  EXPECT_EQ(dtype_to_safetensors(torch::kInt16), "I16");
  EXPECT_EQ(dtype_size("F64"), 8u);
  EXPECT_THROW(dtype_from_safetensors("U16"), Error);
  EXPECT_THROW(dtype_to_safetensors(torch::kComplexFloat), Error);
}

TEST(Safetensors, ZeroCopyViewAliasesTheMapping) {
  TempDir tmp;
  auto p = tmp / "a.safetensors";
  save_safetensors(p, {{"x", torch::arange(16, torch::kFloat32)}});
  auto f = SafetensorsFile::open(p);
  auto a = f->get("x"), b = f->get("x");
  EXPECT_EQ(a.data_ptr(), b.data_ptr());  // no copy per get()
}

TEST(SafetensorsMalformed, TruncatedFile) {
  TempDir tmp;
  auto p = tmp / "short.safetensors";
  write_raw(p, "", "", 0);
  {
    std::ofstream f(p, std::ios::binary);
    f << "abc";
  }
  expect_rejected(p, {"too small"});
  // A valid file cut in its data area: the tensors no longer fit.
  auto q = tmp / "cut.safetensors";
  save_safetensors(q, {{"w", torch::ones({64}, torch::kFloat32)}});
  std::string bytes = read_bytes(q);
  {
    std::ofstream f(q, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), (std::streamsize)bytes.size() - 10);
  }
  expect_rejected(q, {"'w'", "out of bounds"});
}

TEST(SafetensorsMalformed, HeaderLengthTooBig) {
  TempDir tmp;
  auto p = tmp / "big.safetensors";
  write_raw(p, "{}", "", 1000);
  expect_rejected(p, {"runs past the end"});
  auto q = tmp / "huge.safetensors";
  write_raw(q, "{}", "", 200000000);
  expect_rejected(q, {"cap"});
}

TEST(SafetensorsMalformed, BadJson) {
  TempDir tmp;
  auto p = tmp / "bad.safetensors";
  write_raw(p, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})", "abcd");  // missing '}'
  expect_rejected(p, {"malformed JSON"});
  auto q = tmp / "notobj.safetensors";
  write_raw(q, "[1, 2]  ", "");
  expect_rejected(q, {"'{'"});
  auto r = tmp / "fields.safetensors";
  write_raw(r, R"({"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}})", "abcd");
  expect_rejected(r, {"'w'", "shape"});
  auto s = tmp / "offs.safetensors";
  write_raw(s, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", "abcd");
  expect_rejected(s, {"'w'", "data_offsets"});
}

TEST(SafetensorsMalformed, OffsetsOutOfBounds) {
  TempDir tmp;
  auto p = tmp / "oob.safetensors";
  write_raw(p, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", std::string(8, '\0'));
  expect_rejected(p, {"'w'", "out of bounds"});
  auto q = tmp / "rev.safetensors";
  write_raw(q, R"({"w": {"dtype": "U8", "shape": [0], "data_offsets": [4, 0]}})", std::string(4, '\0'));
  expect_rejected(q, {"'w'", "< begin"});
}

TEST(SafetensorsMalformed, Overlap) {
  TempDir tmp;
  auto p = tmp / "overlap.safetensors";
  write_raw(p,
            R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
            R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
            std::string(12, '\0'));
  expect_rejected(p, {"'b'", "overlap", "'a'"});
}

TEST(SafetensorsMalformed, WrongByteSpan) {
  TempDir tmp;
  auto p = tmp / "span.safetensors";
  write_raw(p, R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", std::string(8, '\0'));
  expect_rejected(p, {"'w'", "byte span 8", "12"});
}

TEST(SafetensorsMalformed, UnknownDtype) {
  TempDir tmp;
  auto p = tmp / "dtype.safetensors";
  write_raw(p, R"({"w": {"dtype": "F12", "shape": [1], "data_offsets": [0, 4]}})", std::string(4, '\0'));
  expect_rejected(p, {"'w'", "unknown dtype 'F12'"});
  auto q = tmp / "f8.safetensors";
  write_raw(q, R"({"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})", std::string(4, '\0'));
  expect_rejected(q, {"'w'", "unsupported dtype 'F8_E4M3'"});
}

TEST(SafetensorsMalformed, DuplicateAndHole) {
  TempDir tmp;
  auto p = tmp / "dup.safetensors";
  write_raw(p,
            R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
            R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
            std::string(8, '\0'));
  expect_rejected(p, {"'w'", "duplicate"});
  auto q = tmp / "hole.safetensors";
  write_raw(q,
            R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
            R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
            std::string(12, '\0'));
  expect_rejected(q, {"'b'", "hole"});
  auto r = tmp / "tail.safetensors";
  write_raw(r, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", std::string(12, '\0'));
  expect_rejected(r, {"trailing bytes"});
}

TEST(SafetensorsMalformed, AcceptsPaddedHeaderAndMetadata) {
  TempDir tmp;
  auto p = tmp / "ok.safetensors";
  std::string data(8, '\0');
  float one = 1.0f, two = 2.0f;
  std::memcpy(&data[0], &one, 4);
  std::memcpy(&data[4], &two, 4);
  write_raw(p, R"({"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}    )",
            data);
  auto f = SafetensorsFile::open(p);
  EXPECT_TRUE(torch::equal(f->get("w"), torch::tensor({1.0f, 2.0f})));
  EXPECT_THROW(f->get("nope"), Error);
}

TEST(Checkpoint, ShardedWriteAndRead) {
  TempDir tmp;
  NamedTensors ts;
  for (int i = 0; i < 5; ++i) ts.emplace_back("t" + std::to_string(i), torch::full({100}, (float)i));  // 400 B each
  save_checkpoint(tmp.path(), ts, /*max_shard_bytes=*/900);
  EXPECT_FALSE(std::filesystem::exists(tmp / "model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "model-00001-of-00003.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "model-00003-of-00003.safetensors"));
  auto idx = read_json_file(tmp / "model.safetensors.index.json");
  EXPECT_EQ(idx["metadata"]["total_size"].get<uint64_t>(), 2000u);
  EXPECT_EQ(idx["weight_map"]["t0"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(idx["weight_map"]["t4"], "model-00003-of-00003.safetensors");
  auto store = TensorStore::open(tmp.path());
  EXPECT_EQ(store.names().size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(torch::equal(store.get("t" + std::to_string(i)), ts[i].second));
  EXPECT_EQ(store.info("t3").dtype, "F32");

  // Re-saving unsharded removes the shards and the index.
  save_checkpoint(tmp.path(), ts);
  EXPECT_TRUE(std::filesystem::exists(tmp / "model.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(tmp / "model.safetensors.index.json"));
  EXPECT_FALSE(std::filesystem::exists(tmp / "model-00001-of-00003.safetensors"));
  EXPECT_EQ(TensorStore::open(tmp.path()).names().size(), 5u);
  // A single file path works too.
  EXPECT_EQ(TensorStore::open(tmp / "model.safetensors").names().size(), 5u);
}

TEST(Checkpoint, IndexErrors) {
  TempDir tmp;
  NamedTensors ts{{"a", torch::ones({100})}, {"b", torch::ones({100})}};
  save_checkpoint(tmp.path(), ts, 500, "adapter_model");
  EXPECT_EQ(TensorStore::open(tmp.path(), "adapter_model").names().size(), 2u);
  auto idx_path = tmp / "adapter_model.safetensors.index.json";
  auto idx = read_json_file(idx_path);
  idx["weight_map"]["c"] = "adapter_model-00001-of-00002.safetensors";  // not in that shard
  write_json_file_atomic(idx_path, idx);
  try {
    TensorStore::open(tmp.path(), "adapter_model");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'c'"), std::string::npos) << e.what();
  }
  idx["weight_map"].erase("c");
  idx["weight_map"]["a"] = "missing.safetensors";
  write_json_file_atomic(idx_path, idx);
  try {
    TensorStore::open(tmp.path(), "adapter_model");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.safetensors"), std::string::npos) << e.what();
  }
  TempDir empty;
  EXPECT_THROW(TensorStore::open(empty.path()), Error);
}
