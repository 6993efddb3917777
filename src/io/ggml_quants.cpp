// Reference encoders of ggml's block formats. Each follows the arithmetic of ggml-quants.c's
// quantize_row_*_ref step by step (same float operations in the same order, nearest_int's magic-number
// rounding, roundf for Q8_0), because llama-quantize without an importance matrix runs exactly these.
#include "prospect/io/ggml_quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "prospect/core/error.h"

namespace prospect::io {

namespace {

constexpr int QK_K = 256;
constexpr float GROUP_MAX_EPS = 1e-15f;

struct Entry {
  GgmlType type;
  GgmlTypeInfo info;
};
const Entry kTypes[] = {
    {GgmlType::F32, {"f32", 1, 4}},       {GgmlType::F16, {"f16", 1, 2}},
    {GgmlType::Q4_0, {"q4_0", 32, 18}},   {GgmlType::Q4_1, {"q4_1", 32, 20}},
    {GgmlType::Q5_0, {"q5_0", 32, 22}},   {GgmlType::Q5_1, {"q5_1", 32, 24}},
    {GgmlType::Q8_0, {"q8_0", 32, 34}},   {GgmlType::Q8_1, {"q8_1", 32, 36}},
    {GgmlType::Q2_K, {"q2_K", 256, 84}},  {GgmlType::Q3_K, {"q3_K", 256, 110}},
    {GgmlType::Q4_K, {"q4_K", 256, 144}}, {GgmlType::Q5_K, {"q5_K", 256, 176}},
    {GgmlType::Q6_K, {"q6_K", 256, 210}}, {GgmlType::Q8_K, {"q8_K", 256, 292}},
    {GgmlType::I8, {"i8", 1, 1}},         {GgmlType::I16, {"i16", 1, 2}},
    {GgmlType::I32, {"i32", 1, 4}},       {GgmlType::I64, {"i64", 1, 8}},
    {GgmlType::F64, {"f64", 1, 8}},       {GgmlType::BF16, {"bf16", 1, 2}},
};

inline int nearest_int(float fval) {
  // Adding 1.5·2^23 leaves round-to-nearest-even of fval in the low mantissa bits (|fval| < 2^22).
  float val = fval + 12582912.f;
  int i;
  std::memcpy(&i, &val, sizeof(int));
  return (i & 0x007fffff) - 0x00400000;
}

inline void put_f16(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, 2);
}
inline float get_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

// ---- Q8_0: {f16 d; i8 q[32]}, d = max|x|/127, q = roundf(x/d) (half away from zero).
void q8_0_block(const float* x, uint8_t* y) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d ? 1.0f / d : 0.0f;
  put_f16(y, d);
  for (int j = 0; j < 32; ++j) y[2 + j] = (uint8_t)(int8_t)std::roundf(x[j] * id);
}

// ---- Q5_0: {f16 d; u8 qh[4]; u8 qs[16]}, d = max/-16 (signed extreme), 5-bit codes 0..31.
void q5_0_block(const float* x, uint8_t* y) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(x[j])) amax = std::fabs(x[j]), max = x[j];
  const float d = max / -16;
  const float id = d ? 1.0f / d : 0.0f;
  put_f16(y, d);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const uint8_t a = (uint8_t)std::min(31, (int)(int8_t)(x[j] * id + 16.5f));
    const uint8_t b = (uint8_t)std::min(31, (int)(int8_t)(x[16 + j] * id + 16.5f));
    y[6 + j] = (uint8_t)((a & 0x0F) | ((b & 0x0F) << 4));
    qh |= ((a & 0x10u) >> 4) << j;
    qh |= ((b & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(y + 2, &qh, 4);
}

// make_qkx2_quants: scale and (negated) min of an affine nmax-level code for n values, searching
// nstep+1 candidate scales around nmax/(max-min) by weighted least squares.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * (x[i] - min));
    L[i] = (uint8_t)std::max(0, std::min(nmax, l));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = (uint8_t)l;
      float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// make_qx_quants with rmse_type 1 (weights x²) and no importance weights: a symmetric code in
// [-nmax, nmax-1], the scale refined over 18 candidate inverse scales.
float make_qx_quants_rmse1(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    float ax = std::fabs(x[i]);
    if (ax > amax) amax = ax, max = x[i];
  }
  if (amax < GROUP_MAX_EPS) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = (int8_t)(l + nmax);
    float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        L[i] = (int8_t)(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// 6-bit scale/min pairs of Q4_K's 12-byte `scales` field.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

// ---- Q4_K: {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]} per 256 values, 8 sub-blocks of 32.
void q4_K_block(const float* x, uint8_t* y) {
  uint8_t L[QK_K], Laux[32];
  float weights[32], mins[QK_K / 32], scales[QK_K / 32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < QK_K / 32; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  uint8_t* sc = y + 4;
  float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < QK_K / 32; ++j) {
    uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
    uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
    ls = std::min<uint8_t>(63, ls);
    lm = std::min<uint8_t>(63, lm);
    if (j < 4) {
      sc[j] = ls;
      sc[j + 4] = lm;
    } else {
      sc[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
      sc[j - 4] |= (uint8_t)((ls >> 4) << 6);
      sc[j - 0] |= (uint8_t)((lm >> 4) << 6);
    }
  }
  put_f16(y, max_scale / 63.f);
  put_f16(y + 2, max_min / 63.f);
  const float d_all = get_f16(y), dmin_all = get_f16(y + 2);
  for (int j = 0; j < QK_K / 32; ++j) {
    uint8_t s, m;
    get_scale_min_k4(j, sc, &s, &m);
    const float d = d_all * s;
    if (!d) continue;
    const float dm = dmin_all * m;
    for (int ii = 0; ii < 32; ++ii) {
      int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = (uint8_t)std::max(0, std::min(15, l));
    }
  }
  uint8_t* q = y + 16;
  for (int j = 0; j < QK_K; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    q += 32;
  }
}

// ---- Q6_K: {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d} per 256 values, 16 sub-blocks of 16.
void q6_K_block(const float* x, uint8_t* y) {
  int8_t L[QK_K];
  float scales[QK_K / 16];
  float max_scale = 0, max_abs_scale = 0;
  for (int ib = 0; ib < QK_K / 16; ++ib) {
    const float scale = make_qx_quants_rmse1(16, 32, x + 16 * ib, L + 16 * ib);
    scales[ib] = scale;
    const float abs_scale = std::fabs(scale);
    if (abs_scale > max_abs_scale) max_abs_scale = abs_scale, max_scale = scale;
  }
  uint8_t* ql = y;
  uint8_t* qh = y + 128;
  int8_t* sc = (int8_t*)(y + 192);
  if (max_abs_scale < GROUP_MAX_EPS) {
    std::memset(y, 0, 210);
    return;
  }
  float iscale = -128.f / max_scale;
  put_f16(y + 208, 1 / iscale);
  for (int ib = 0; ib < QK_K / 16; ++ib) sc[ib] = (int8_t)std::min(127, nearest_int(iscale * scales[ib]));
  const float d_all = get_f16(y + 208);
  for (int j = 0; j < QK_K / 16; ++j) {
    float d = d_all * sc[j];
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii) {
      int l = nearest_int(x[16 * j + ii] / d);
      L[16 * j + ii] = (int8_t)(std::max(-32, std::min(31, l)) + 32);
    }
  }
  for (int j = 0; j < QK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
      const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
      ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
      ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
      qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                        ((L[j + l + 96] >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}

// ---- decoders (dequantize_row_*)
void q8_0_decode(const uint8_t* b, float* y) {
  const float d = get_f16(b);
  for (int j = 0; j < 32; ++j) y[j] = (int8_t)b[2 + j] * d;
}
void q5_0_decode(const uint8_t* b, float* y) {
  const float d = get_f16(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  for (int j = 0; j < 16; ++j) {
    const uint8_t h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
    y[j] = (((b[6 + j] & 0x0F) | h0) - 16) * d;
    y[j + 16] = (((b[6 + j] >> 4) | h1) - 16) * d;
  }
}
void q4_K_decode(const uint8_t* b, float* y) {
  const float d = get_f16(b), min = get_f16(b + 2);
  const uint8_t* sc = b + 4;
  const uint8_t* q = b + 16;
  int is = 0;
  for (int j = 0; j < QK_K; j += 64) {
    uint8_t s, m;
    get_scale_min_k4(is + 0, sc, &s, &m);
    const float d1 = d * s, m1 = min * m;
    get_scale_min_k4(is + 1, sc, &s, &m);
    const float d2 = d * s, m2 = min * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}
void q6_K_decode(const uint8_t* b, float* y) {
  const float d = get_f16(b + 208);
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = (const int8_t*)(b + 192);
  for (int n = 0; n < QK_K; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = (int)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = (int)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l + 0] = d * sc[is + 0] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

}  // namespace

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return (uint16_t)(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // ≥ 65520 rounds to infinity
  if (ax < 0x38800000u) {                                     // below 2^-14: a subnormal half (or 0)
    float v;
    std::memcpy(&v, &ax, 4);
    return (uint16_t)(sign | (uint32_t)std::nearbyint(v * 16777216.0f));  // units of 2^-24, ties to even
  }
  uint32_t h = (((ax >> 23) - 112) << 10) | ((ax & 0x7fffffu) >> 13);
  const uint32_t rest = ax & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry correctly bumps the exponent
  return (uint16_t)(sign | h);
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ffu;
  uint32_t x;
  if (e == 0) {
    const float v = std::ldexp((float)m, -24);
    std::memcpy(&x, &v, 4);
    x |= sign;
  } else if (e == 31) {
    x = sign | 0x7f800000u | (m << 13);
  } else {
    x = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t fp32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 64);  // quiet NaN
  return (uint16_t)((x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
}

float bf16_to_fp32(uint16_t h) {
  const uint32_t x = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

const GgmlTypeInfo* ggml_type_info(uint32_t type) {
  for (const auto& e : kTypes)
    if ((uint32_t)e.type == type) return &e.info;
  return nullptr;
}

std::string ggml_type_name(GgmlType t) {
  const auto* i = ggml_type_info((uint32_t)t);
  return i ? i->name : "type" + std::to_string((uint32_t)t);
}

size_t ggml_row_bytes(GgmlType t, int64_t ne0) {
  const auto* i = ggml_type_info((uint32_t)t);
  check(i != nullptr, "ggml", "unknown tensor type " + std::to_string((uint32_t)t));
  check(ne0 % i->block == 0, "ggml",
        "row length " + std::to_string(ne0) + " is not a multiple of " + i->name + "'s block size " +
            std::to_string(i->block));
  return (size_t)(ne0 / i->block) * i->block_bytes;
}

bool ggml_can_encode(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q5_0: case GgmlType::Q4_K: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

void ggml_encode_rows(GgmlType t, const float* x, int64_t nrows, int64_t n_per_row, std::vector<uint8_t>& out) {
  const size_t row = ggml_row_bytes(t, n_per_row);
  const size_t at = out.size();
  out.resize(at + row * (size_t)nrows);
  ggml_encode_rows_into(t, x, nrows, n_per_row, out.data() + at);
}

void ggml_encode_rows_into(GgmlType t, const float* x, int64_t nrows, int64_t n_per_row, uint8_t* y) {
  ggml_row_bytes(t, n_per_row);  // validates the row length
  const int64_t n = nrows * n_per_row;
  switch (t) {
    case GgmlType::F32:
      std::memcpy(y, x, (size_t)n * 4);
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_fp16(x[i]);
        std::memcpy(y + 2 * i, &h, 2);
      }
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_bf16(x[i]);
        std::memcpy(y + 2 * i, &h, 2);
      }
      return;
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < n / 32; ++b) q8_0_block(x + 32 * b, y + 34 * b);
      return;
    case GgmlType::Q5_0:
      for (int64_t b = 0; b < n / 32; ++b) q5_0_block(x + 32 * b, y + 22 * b);
      return;
    case GgmlType::Q4_K:
      for (int64_t b = 0; b < n / QK_K; ++b) q4_K_block(x + QK_K * b, y + 144 * b);
      return;
    case GgmlType::Q6_K:
      for (int64_t b = 0; b < n / QK_K; ++b) q6_K_block(x + QK_K * b, y + 210 * b);
      return;
    default:
      throw Error("ggml", "cannot encode tensor type " + ggml_type_name(t));
  }
}

void ggml_decode_rows(GgmlType t, const uint8_t* data, int64_t nrows, int64_t n_per_row, float* y) {
  ggml_row_bytes(t, n_per_row);  // validates the row length
  const int64_t n = nrows * n_per_row;
  switch (t) {
    case GgmlType::F32:
      std::memcpy(y, data, (size_t)n * 4);
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, data + 2 * i, 2);
        y[i] = fp16_to_fp32(h);
      }
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, data + 2 * i, 2);
        y[i] = bf16_to_fp32(h);
      }
      return;
    case GgmlType::Q8_0:
      for (int64_t b = 0; b < n / 32; ++b) q8_0_decode(data + 34 * b, y + 32 * b);
      return;
    case GgmlType::Q5_0:
      for (int64_t b = 0; b < n / 32; ++b) q5_0_decode(data + 22 * b, y + 32 * b);
      return;
    case GgmlType::Q4_K:
      for (int64_t b = 0; b < n / QK_K; ++b) q4_K_decode(data + 144 * b, y + QK_K * b);
      return;
    case GgmlType::Q6_K:
      for (int64_t b = 0; b < n / QK_K; ++b) q6_K_decode(data + 210 * b, y + QK_K * b);
      return;
    default:
      throw Error("ggml", "cannot decode tensor type " + ggml_type_name(t));
  }
}

}  // namespace prospect::io
