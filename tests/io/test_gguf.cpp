// GGUF writer/reader and ggml block encoders: Q8_0 bytes against hand-computed blocks, half/bfloat16
// rounding against LibTorch's conversions, reconstruction bounds of the k-quants, a metadata + tensor
// round trip, and one clear error for each kind of malformed file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>

#include "prospect/core/error.h"
#include "prospect/io/gguf_writer.h"
#include "test_util.h"

namespace {

using namespace prospect::io;
using prospect::test::TempDir;

std::vector<uint8_t> encode(GgmlType t, const std::vector<float>& x, int64_t n_per_row) {
  std::vector<uint8_t> out;
  ggml_encode_rows(t, x.data(), (int64_t)x.size() / n_per_row, n_per_row, out);
  return out;
}

uint16_t u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

TEST(GgmlQuants, Q8_0HandComputedBlocks) {
  // Block 1: max|x| = 127 -> d = 1 (f16 0x3C00), q = x rounded half away from zero (roundf), so the
  // ties 2.5, -2.5, 0.5, -0.5, 126.5 give 3, -3, 1, -1, 127 (round-half-even would give 2, -2, 0, 0, 126).
  // Block 2: max|x| = 63.5 -> d = 0.5 (0x3800), q = 2x: 0.25 -> 0.5 -> 1, -0.75 -> -1.5 -> -2.
  // Block 3: max|x| = 1 -> d = 1/127 = 0.0078740..., as f16 2^-7·(1 + 8/1024) = 0x2008.
  // Block 4: zeros -> d = 0 and q = 0 (id = 0, no division by zero).
  std::vector<float> x(128, 0.0f);
  const float b1[] = {127, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, -1.5f, 126.5f, -127, 3.49f, -3.51f};
  const int q1[] = {127, 3, -3, 1, -1, 2, -2, 127, -127, 3, -4};
  for (int i = 0; i < 11; ++i) x[i] = b1[i];
  const float b2[] = {63.5f, 0.25f, -0.75f, 10.0f, -63.5f};
  const int q2[] = {127, 1, -2, 20, -127};
  for (int i = 0; i < 5; ++i) x[32 + i] = b2[i];
  x[64] = 1.0f, x[65] = -1.0f, x[66] = 0.25f;  // 0.25·127 = 31.75 -> 32
  const auto y = encode(GgmlType::Q8_0, x, 128);
  ASSERT_EQ(y.size(), 4u * 34);
  EXPECT_EQ(u16(&y[0]), 0x3C00);
  for (int i = 0; i < 32; ++i) EXPECT_EQ((int8_t)y[2 + i], i < 11 ? q1[i] : 0) << "block 1, element " << i;
  EXPECT_EQ(u16(&y[34]), 0x3800);
  for (int i = 0; i < 32; ++i) EXPECT_EQ((int8_t)y[36 + i], i < 5 ? q2[i] : 0) << "block 2, element " << i;
  EXPECT_EQ(u16(&y[68]), 0x2008);
  EXPECT_EQ((int8_t)y[70], 127);
  EXPECT_EQ((int8_t)y[71], -127);
  EXPECT_EQ((int8_t)y[72], 32);
  for (int i = 0; i < 34; ++i) EXPECT_EQ(y[102 + i], 0) << "zero block byte " << i;
  // Decoding gives q·d.
  std::vector<float> back(128);
  ggml_decode_rows(GgmlType::Q8_0, y.data(), 1, 128, back.data());
  EXPECT_FLOAT_EQ(back[1], 3.0f);
  EXPECT_FLOAT_EQ(back[33], 0.5f);
  EXPECT_FLOAT_EQ(back[64], 127 * fp16_to_fp32(0x2008));
}

TEST(GgmlQuants, HalfAndBfloat16MatchLibTorchRounding) {
  // Hand-picked edge cases, then many random magnitudes: bit-identical to LibTorch's RNE conversions.
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie to even (0)
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xC000);
  auto x = torch::randn({20000}, torch::TensorOptions().dtype(torch::kFloat32)) *
           torch::pow(10.0, torch::randint(-9, 6, {20000}).to(torch::kFloat32));
  auto h = x.to(torch::kHalf);
  auto b = x.to(torch::kBFloat16);
  const float* xp = x.data_ptr<float>();
  const auto* hp = reinterpret_cast<const uint16_t*>(h.data_ptr());
  const auto* bp = reinterpret_cast<const uint16_t*>(b.data_ptr());
  int bad_h = 0, bad_b = 0;
  for (int i = 0; i < 20000; ++i) {
    bad_h += fp32_to_fp16(xp[i]) != hp[i];
    bad_b += fp32_to_bf16(xp[i]) != bp[i];
    if (std::isfinite(fp16_to_fp32(hp[i]))) {
      EXPECT_EQ(fp16_to_fp32(hp[i]), h[i].item<float>());
    }
  }
  EXPECT_EQ(bad_h, 0);
  EXPECT_EQ(bad_b, 0);
}

TEST(GgmlQuants, KQuantsReconstructWithinTheirStepSize) {
  // Gaussian rows: the relative RMS reconstruction error of each format stays below its step size
  // argument (levels over a block's range, uniform rounding error step/√12), with a 1.5x margin:
  //   q8_0: 255 levels over ±2.5σ          -> ~0.006   bound 0.01
  //   q6_K: 64 levels over a 16-value range -> ~0.016   bound 0.03
  //   q5_0: 32 levels over ±2.5σ           -> ~0.045   bound 0.07
  //   q4_K: 16 levels over a 32-value range -> ~0.08    bound 0.12
  torch::manual_seed(3);
  auto x = torch::randn({8, 512});
  std::vector<float> v(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
  const std::pair<GgmlType, double> cases[] = {
      {GgmlType::Q8_0, 0.01}, {GgmlType::Q6_K, 0.03}, {GgmlType::Q5_0, 0.07}, {GgmlType::Q4_K, 0.12}};
  for (const auto& [t, bound] : cases) {
    const auto y = encode(t, v, 512);
    EXPECT_EQ(y.size(), 8 * ggml_row_bytes(t, 512));
    std::vector<float> back(v.size());
    ggml_decode_rows(t, y.data(), 8, 512, back.data());
    double se = 0, ss = 0;
    for (size_t i = 0; i < v.size(); ++i) se += (back[i] - v[i]) * (back[i] - v[i]), ss += v[i] * v[i];
    EXPECT_LT(std::sqrt(se / ss), bound) << ggml_type_name(t);
    EXPECT_GT(std::sqrt(se / ss), bound / 40) << ggml_type_name(t) << " (suspiciously exact)";
  }
  // A constant row and a zero row survive every format (the degenerate branches).
  std::vector<float> c(512, 0.0f);
  for (int i = 256; i < 512; ++i) c[i] = 0.5f;
  for (auto t : {GgmlType::Q8_0, GgmlType::Q6_K, GgmlType::Q5_0, GgmlType::Q4_K}) {
    std::vector<float> back(512);
    const auto y = encode(t, c, 512);
    ggml_decode_rows(t, y.data(), 1, 512, back.data());
    for (int i = 0; i < 512; ++i) EXPECT_NEAR(back[i], c[i], 0.5 / 30) << ggml_type_name(t) << " " << i;
  }
  EXPECT_THROW(ggml_row_bytes(GgmlType::Q4_K, 320), prospect::Error);  // not a multiple of 256
}

GgufMetadata sample_metadata() {
  GgufMetadata kv;
  kv.emplace_back("general.architecture", GgufValue::str("qwen3"));
  kv.emplace_back("u8", GgufValue{GgufType::U8, GgufType::U32, 200});
  kv.emplace_back("i8", GgufValue{GgufType::I8, GgufType::U32, -100});
  kv.emplace_back("u16", GgufValue{GgufType::U16, GgufType::U32, 60000});
  kv.emplace_back("i16", GgufValue{GgufType::I16, GgufType::U32, -30000});
  kv.emplace_back("u32", GgufValue::u32(4000000000u));
  kv.emplace_back("i32", GgufValue::i32(-2000000000));
  kv.emplace_back("f32", GgufValue::f32(0.5));
  kv.emplace_back("bool", GgufValue::boolean(true));
  kv.emplace_back("u64", GgufValue::u64(1ull << 40));
  kv.emplace_back("i64", GgufValue{GgufType::I64, GgufType::U32, -(1ll << 40)});
  kv.emplace_back("f64", GgufValue{GgufType::F64, GgufType::U32, 0.1});
  kv.emplace_back("strings", GgufValue::strings({"a", "", "Ġthe", "日本"}));
  kv.emplace_back("ints", GgufValue::i32s({1, -2, 3}));
  return kv;
}

std::vector<GgufTensorSpec> sample_tensors(const torch::Tensor& a, const torch::Tensor& b) {
  return {{"a.weight", {64, 3}, GgmlType::F32, [a] { return a; }},
          {"b.weight", {64, 2}, GgmlType::Q8_0, [b] { return b; }},
          {"c.bias", {5}, GgmlType::F16, [] { return torch::arange(5, torch::kFloat32); }}};
}

TEST(Gguf, RoundTripMetadataAndTensors) {
  TempDir tmp;
  const auto file = tmp / "m.gguf";
  auto a = torch::randn({3, 64});
  auto b = torch::randn({2, 64});
  const auto st = write_gguf(file, sample_metadata(), sample_tensors(a, b));
  EXPECT_EQ(st.bytes, std::filesystem::file_size(file));
  for (const auto& e : std::filesystem::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename(), "m.gguf") << "temporary file left behind";

  const auto g = GgufFile::open(file);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.data_offset() % 32, 0u);
  const auto want = sample_metadata();
  ASSERT_EQ(g.metadata().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(g.metadata()[i].first, want[i].first);
    EXPECT_EQ(g.metadata()[i].second.type, want[i].second.type) << want[i].first;
    if (want[i].second.type == GgufType::F32) EXPECT_FLOAT_EQ(g.metadata()[i].second.value.get<float>(), 0.5f);
    else EXPECT_EQ(g.metadata()[i].second.value, want[i].second.value) << want[i].first;
  }
  ASSERT_EQ(g.tensors().size(), 3u);
  for (const auto& t : g.tensors()) EXPECT_EQ(t.offset % 32, 0u) << t.name;
  EXPECT_EQ(g.tensor("a.weight")->ne, (std::vector<int64_t>{64, 3}));
  EXPECT_TRUE(torch::equal(gguf_to_float(g, "a.weight"), a));
  EXPECT_EQ(g.tensor("b.weight")->nbytes, 2u * 2 * 34);
  EXPECT_LT((gguf_to_float(g, "b.weight") - b).abs().max().item<float>(), b.abs().max().item<float>() / 127);
  EXPECT_TRUE(torch::equal(gguf_to_float(g, "c.bias"), torch::arange(5, torch::kFloat32)));
  // The file starts "GGUF", version 3, 3 tensors, 14 keys (little-endian).
  std::ifstream in(file, std::ios::binary);
  char head[24];
  in.read(head, 24);
  EXPECT_EQ(std::string(head, 4), "GGUF");
  uint32_t ver;
  uint64_t nt, nkv;
  std::memcpy(&ver, head + 4, 4), std::memcpy(&nt, head + 8, 8), std::memcpy(&nkv, head + 16, 8);
  EXPECT_EQ(ver, 3u);
  EXPECT_EQ(nt, 3u);
  EXPECT_EQ(nkv, 14u);
}

TEST(Gguf, WriterRejectsBadSpecsAndLeavesNothing) {
  TempDir tmp;
  auto t = torch::zeros({2, 48});
  EXPECT_THROW(write_gguf(tmp / "x.gguf", {}, {{"w", {48, 2}, GgmlType::Q8_0, [t] { return t; }}}), prospect::Error);
  EXPECT_THROW(write_gguf(tmp / "x.gguf", {}, {{std::string(64, 'n'), {48, 2}, GgmlType::F32, [t] { return t; }}}),
               prospect::Error);
  EXPECT_THROW(write_gguf(tmp / "x.gguf", {{"k", GgufValue::u32(1)}, {"k", GgufValue::u32(2)}}, {}), prospect::Error);
  // A failing tensor source aborts the write: no output, no temporary file.
  EXPECT_THROW(write_gguf(tmp / "x.gguf", {}, {{"w", {48, 2}, GgmlType::F32, []() -> torch::Tensor {
                                                 throw prospect::Error("source", "boom");
                                               }}}),
               prospect::Error);
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

std::string bytes_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void put(const std::filesystem::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

std::string open_error(const std::filesystem::path& p) {
  try {
    GgufFile::open(p);
  } catch (const prospect::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Gguf, MalformedFilesGiveOneClearError) {
  TempDir tmp;
  const auto good = tmp / "good.gguf";
  write_gguf(good, sample_metadata(), sample_tensors(torch::randn({3, 64}), torch::randn({2, 64})));
  const std::string s = bytes_of(good);
  const auto bad = tmp / "bad.gguf";
  auto expect_error = [&](const std::string& content, const std::string& needle) {
    put(bad, content);
    const std::string e = open_error(bad);
    EXPECT_NE(e.find(bad.string()), std::string::npos) << "error does not name the file: " << e;
    EXPECT_NE(e.find(needle), std::string::npos) << "expected '" << needle << "' in: " << e;
  };
  expect_error("", "file shorter than the magic");
  expect_error("GGML" + s.substr(4), "bad magic");
  std::string v = s;
  v[4] = 9;
  expect_error(v, "unsupported version 9");
  // Truncations anywhere in the header or the data.
  // (Very short files already fail the count sanity check; longer cuts end inside a field or the data.)
  for (size_t cut : {10ul, 30ul, 100ul}) expect_error(s.substr(0, cut), "malformed GGUF");
  expect_error(s.substr(0, 300), "truncated");
  expect_error(s.substr(0, s.size() - 40), "extends past the end");
  // An absurd tensor count, and a string length far beyond the file.
  std::string c = s;
  c[15] = 0x7f;
  expect_error(c, "tensor count");
  std::string l = s;
  l[24 + 7] = 0x40;  // length of the first key
  expect_error(l, "truncated");
  // An unknown value type for the first key ("general.architecture", 20 bytes after its u64 length).
  std::string t = s;
  t[24 + 8 + 20] = 77;
  expect_error(t, "unknown value type 77");
  // A duplicate key: rename the second key "u8" to the first's name is impossible in place; instead
  // overwrite "i8" with "u8".
  std::string d = s;
  const size_t at = d.find(std::string("\x02\0\0\0\0\0\0\0i8", 10));
  ASSERT_NE(at, std::string::npos);
  d[at + 8] = 'u';
  expect_error(d, "duplicate metadata key 'u8'");
  // An unknown ggml type in the first tensor info.
  std::string g = s;
  const size_t ti = g.find(std::string("a.weight", 8));
  ASSERT_NE(ti, std::string::npos);
  g[ti + 8 + 4 + 16] = 99;
  expect_error(g, "unknown ggml type 99");
  EXPECT_NE(open_error(tmp / "missing.gguf").find("cannot open"), std::string::npos);
}

}  // namespace
