// flash_dropout.cuh - dropout on the attention probabilities, regenerated wherever it is needed
// (forward, dK/dV, dQ) from a counter-based generator and never stored.
//
// THE GENERATOR (the same in io.flashdjl.spi.DropoutBits, which the REFERENCE backend uses):
// the keys j and queries i of one (batch b, query head h) are cut into cells of 4 x 4 elements,
//   i in {p, p+1, p+8, p+9}, j in {q, q+1, q+8, q+9},  p = i & ~9, q = j & ~9
// (9 = bits 0 and 3): exactly what one thread holds of two adjacent 8-column tiles of a tensor-core
// accumulator, whether its rows are queries (forward, dQ) or keys (dK/dV). A cell's 16 random
// bytes are Philox4x32-10 (Salmon et al., SC'11) of
//   counter = (cell(j), cell(i), s * heads_q + h, offset),  key = (seed low 32 bits, seed high),
//   cell(x) = (x >> 4) << 2 | (x >> 1) & 3,
// byte k = (word k >> 2) >> 8 (k & 3), k = 4 * (i & 1 | (i >> 2) & 2) + (j & 1 | (j >> 2) & 2).
// Element (i, j) is kept iff its byte < threshold (1..256, the keep probability in 256ths) and
// then scaled by 256 / threshold, so the expectation is exact. s is the sequence (the batch row, or
// the packed sequence) and i, j count from its first row, so the bits depend on nothing but
// (seed, offset, s, h, i, j): not on tiles, warps, the kernel or where a packed sequence starts.
#pragma once
#include <stdint.h>

namespace fdjl {

struct Philox4x32 {
  uint32_t x[4];
  __host__ __device__ __forceinline__ Philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                                                 uint32_t k1) {
    x[0] = c0;
    x[1] = c1;
    x[2] = c2;
    x[3] = c3;
#pragma unroll
    for (int r = 0; r < 10; ++r) {
      const uint64_t p0 = (uint64_t)0xD2511F53u * x[0], p1 = (uint64_t)0xCD9E8D57u * x[2];
      const uint32_t y0 = (uint32_t)(p1 >> 32) ^ x[1] ^ k0, y2 = (uint32_t)(p0 >> 32) ^ x[3] ^ k1;
      x[0] = y0;
      x[1] = (uint32_t)p1;
      x[2] = y2;
      x[3] = (uint32_t)p0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
  }
};

__host__ __device__ __forceinline__ uint32_t dropout_cell(int x) { return ((uint32_t)(x >> 4) << 2) | ((x >> 1) & 3); }

// One CTA's view of the dropout of a call: off when threshold == 0.
struct Dropout {
  uint32_t k0, k1, offset, bh, threshold;
  float scale;

  // sequence s (blockIdx.z), query head h
  template <typename P>
  __host__ __device__ __forceinline__ Dropout(const P& p, int s, int h)
      : k0((uint32_t)p.dropout_seed), k1((uint32_t)(p.dropout_seed >> 32)), offset(p.dropout_offset),
        bh((uint32_t)s * (uint32_t)p.heads_q + (uint32_t)h), threshold(p.dropout_threshold),
        scale(p.dropout_scale) {}

  __host__ __device__ __forceinline__ bool on() const { return threshold != 0; }

  // this dropout for query head h + dh of the same sequence (the GQA loop of dK/dV)
  __host__ __device__ __forceinline__ Dropout plus_heads(int dh) const {
    Dropout d = *this;
    d.bh += (uint32_t)dh;
    return d;
  }

  // x if bit e of keep is set (times the scale), else 0
  __host__ __device__ __forceinline__ float kept(float x, uint32_t keep, int e) const {
    return ((keep >> e) & 1u) ? x * scale : 0.f;
  }

  // The keep bits of the 8 elements a thread holds in two adjacent 8-column tiles of an
  // accumulator (rows row0 + g + 8 r, columns col0 + 2 t4 + c + 8 t, row0 and col0 multiples of
  // 16), bit 4 t + 2 r + c, as the accumulator indexes them (tile t, element 2 r + c).
  // Rows are queries: forward and dQ.
  __host__ __device__ __forceinline__ uint32_t keep_q_rows(int row0, int col0, int g, int t4) const {
    const int i = row0 + g, j = col0 + 2 * t4;
    const Philox4x32 w(dropout_cell(j), dropout_cell(i), bh, offset, k0, k1);
    uint32_t bits = 0;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const uint32_t word = w.x[(g & 1) | (r << 1)];  // query i + 8 r: i & 1 = g & 1, bit 3 = r
#pragma unroll
      for (int t = 0; t < 2; ++t)
#pragma unroll
        for (int c = 0; c < 2; ++c)
          if (((word >> (8 * (2 * t + c))) & 0xFFu) < threshold) bits |= 1u << (4 * t + 2 * r + c);
    }
    return bits;
  }

  // The same for an accumulator whose rows are keys and columns queries (dK/dV: S^T).
  __host__ __device__ __forceinline__ uint32_t keep_k_rows(int row0, int col0, int g, int t4) const {
    const int j = row0 + g, i = col0 + 2 * t4;
    const Philox4x32 w(dropout_cell(j), dropout_cell(i), bh, offset, k0, k1);
    uint32_t bits = 0;
#pragma unroll
    for (int t = 0; t < 2; ++t)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const uint32_t word = w.x[2 * t + c];  // query i + c + 8 t
#pragma unroll
        for (int r = 0; r < 2; ++r)           // key j + 8 r: byte (j & 1) | bit 3 = r
          if (((word >> (8 * ((g & 1) | (r << 1)))) & 0xFFu) < threshold) bits |= 1u << (4 * t + 2 * r + c);
      }
    return bits;
  }

  // Whether element (query i, key j) is kept: any layout, one generator call per element (the
  // SIMT kernels).
  __host__ __device__ __forceinline__ bool keep(int i, int j) const {
    const Philox4x32 w(dropout_cell(j), dropout_cell(i), bh, offset, k0, k1);
    const int k = 4 * ((i & 1) | ((i >> 2) & 2)) + ((j & 1) | ((j >> 2) & 2));
    return ((w.x[k >> 2] >> (8 * (k & 3))) & 0xFFu) < threshold;
  }
};

}  // namespace fdjl
