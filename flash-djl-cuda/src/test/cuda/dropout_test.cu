// dropout_test.cu - host-side check of the dropout generator (flash_dropout.cuh): Philox4x32-10
// against Random123's known answers, and the per-thread keep bits of both accumulator layouts
// (queries as rows: forward, dQ; keys as rows: dK/dV) against the per-element definition, for
// every lane and many tile positions. Needs nvcc, no GPU (the build runs it before the fatbin):
//   nvcc -std=c++17 -I flash-djl-cuda/src/main/cuda -o /tmp/dropout_test \
//        flash-djl-cuda/src/test/cuda/dropout_test.cu && /tmp/dropout_test
#include <cstdio>
#include <random>
#include "flash_dropout.cuh"
#include "flash_params.h"

static int failures = 0;
#define CHECK(cond, ...)                 \
  do {                                   \
    if (!(cond) && ++failures <= 20) {   \
      std::printf("FAIL %s: ", #cond);   \
      std::printf(__VA_ARGS__);          \
      std::printf("\n");                 \
    }                                    \
  } while (0)

int main() {
  const fdjl::Philox4x32 zero(0, 0, 0, 0, 0, 0);
  CHECK(zero.x[0] == 0x6627e8d5u && zero.x[1] == 0xe169c58du && zero.x[2] == 0xbc57ac4cu && zero.x[3] == 0x9b00dbd8u,
        "Philox4x32-10 of counter 0, key 0");
  const fdjl::Philox4x32 pi(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u);
  CHECK(pi.x[0] == 0xd16cfe09u && pi.x[1] == 0x94fdccebu && pi.x[2] == 0x5001e420u && pi.x[3] == 0x24126ea1u,
        "Philox4x32-10 of the digits of pi");
  std::mt19937_64 rng(2026);
  int cases = 0;
  for (int c = 0; c < 400; ++c) {
    FlashFwdParams p{};
    p.heads_q = 1 + rng() % 16;
    p.dropout_seed = rng();
    p.dropout_offset = (uint32_t)rng();
    p.dropout_threshold = 1 + rng() % 255;
    p.dropout_scale = 256.f / p.dropout_threshold;
    const fdjl::Dropout d(p, (int)(rng() % 8), (int)(rng() % p.heads_q));
    const int row0 = 16 * (int)(rng() % 300), col0 = 16 * (int)(rng() % 300);
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane >> 2, t4 = lane & 3;
      const uint32_t q = d.keep_q_rows(row0, col0, g, t4), k = d.keep_k_rows(row0, col0, g, t4);
      for (int t = 0; t < 2; ++t)
        for (int r = 0; r < 2; ++r)
          for (int cc = 0; cc < 2; ++cc) {
            const int e = 4 * t + 2 * r + cc, row = row0 + g + 8 * r, col = col0 + 2 * t4 + cc + 8 * t;
            CHECK(((q >> e) & 1) == d.keep(row, col), "query rows: row %d col %d", row, col);
            CHECK(((k >> e) & 1) == d.keep(col, row), "key rows: key %d query %d", row, col);
          }
    }
    ++cases;
  }
  std::printf("%d passed, %d failed\n", failures ? 0 : cases + 2, failures);
  return failures ? 1 : 0;
}
