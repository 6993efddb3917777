#pragma once
// Unicode data tables (generated into unicode_tables.cpp by gen_unicode_tables.py).
#include <cstddef>
#include <cstdint>

namespace prospect::tokenizer::unicode_data {

struct Range {
  uint32_t first, last, value;
};
struct MapEntry {
  uint32_t cp, offset, length;  // mapping = pool[offset .. offset+length)
};
struct CompositionPair {
  uint32_t first, second, composite;
};

extern const char* const kUnicodeVersion;
extern const Range ccc_ranges[];
extern const size_t ccc_ranges_count;
extern const uint32_t nfd_pool[], nfkd_pool[], lower_pool[];
extern const MapEntry nfd_entries[], nfkd_entries[], lower_entries[];
extern const size_t nfd_count, nfkd_count, lower_count;
extern const CompositionPair composition_pairs[];
extern const size_t composition_pairs_count;
extern const Range nfc_unsafe[], nfkc_unsafe[];
extern const size_t nfc_unsafe_count, nfkc_unsafe_count;

}  // namespace prospect::tokenizer::unicode_data
