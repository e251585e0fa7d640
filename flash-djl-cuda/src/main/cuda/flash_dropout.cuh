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

#ifdef __CUDACC__
  // The keep bits of two adjacent 16-column blocks (col0, col0 + 16), as keep_q_rows / keep_k_rows
  // give them, for every kk of 0 .. NKK-1 blocks from col0: f(kk, bits). A cell holds 16 elements and
  // a thread uses 8: lanes g and g ^ 1 (lane ^ 4) share their cells, so each draws the cell of one of
  // two blocks and they swap the halves (two shuffles): one generator call per 16 elements. The whole
  // warp must call it (shuffles).
  template <int NKK, bool QUERY_ROWS, typename F>
  __device__ __forceinline__ void for_blocks(int row0, int col0, int g, int t4, F&& f) const {
#pragma unroll
    for (int kk = 0; kk + 1 < NKK; kk += 2) {
      uint32_t b[2];
      if constexpr (QUERY_ROWS) pair_q_rows(row0, col0 + 16 * kk, g, t4, b);
      else pair_k_rows(row0, col0 + 16 * kk, g, t4, b);
      f(kk, b[0]);
      f(kk + 1, b[1]);
    }
    if constexpr (NKK % 2 == 1)
      f(NKK - 1, QUERY_ROWS ? keep_q_rows(row0, col0 + 16 * (NKK - 1), g, t4)
                            : keep_k_rows(row0, col0 + 16 * (NKK - 1), g, t4));
  }

  // The keep decisions of for_blocks<NKK, true> as byte masks of rows g and g + 8: f(kk, m0, m1),
  // byte 2 t + c of m_r is 0xFF where (row g + 8 r, column 2 t4 + c + 8 t of block kk) is kept,
  // else 0; drop_packed applies them to P packed to 16 bits, with no per-element work (the
  // forward then scales O by `scale` once, in its epilogue).
  template <int NKK, typename F>
  __device__ __forceinline__ void for_masks(int row0, int col0, int g, int t4, F&& f) const {
#pragma unroll
    for (int kk = 0; kk < NKK; kk += 2) {  // in pairs of 16-column blocks; an odd last block uses the first half
      uint32_t m[2][2];
      pair_q_masks(row0, col0 + 16 * kk, g, t4, m);
      f(kk, m[0][0], m[0][1]);
      if (kk + 1 < NKK) f(kk + 1, m[1][0], m[1][1]);
    }
  }

  // zero the dropped halves of the A fragment of P V for one 16-key block (mma.m16n8k16 / wgmma
  // register A layout: a0 = row g, keys 2 t4 .. +1; a1 = row g + 8; a2, a3: keys + 8)
  static __device__ __forceinline__ void drop_packed(uint32_t (&a)[4], uint32_t m0, uint32_t m1) {
    a[0] &= __byte_perm(m0, 0, 0x1100);
    a[1] &= __byte_perm(m1, 0, 0x1100);
    a[2] &= __byte_perm(m0, 0, 0x3322);
    a[3] &= __byte_perm(m1, 0, 0x3322);
  }

 private:
  // bytes of w below the threshold (threshold <= 255 when on): 0xFF, else 0
  __device__ __forceinline__ uint32_t below_mask(uint32_t w) const { return __vcmpltu4(w, threshold * 0x01010101u); }
  // the same, one bit per byte at bit 8 k
  __device__ __forceinline__ uint32_t below(uint32_t w) const { return below_mask(w) & 0x01010101u; }
  // query rows: the words of rows g (m0) and g + 8 (m1), byte 2 t + c -> bit 4 t + 2 r + c
  static __device__ __forceinline__ uint32_t q_bits(uint32_t m0, uint32_t m1) {
    auto nib = [](uint32_t x) { return ((x | (x >> 7)) & 3u) | ((((x >> 16) | (x >> 23)) & 3u) << 4); };
    return nib(m0) | (nib(m1) << 2);
  }
  // key rows: a word packed as (query c = 0: key r = 0, 1; query c = 1: key r = 0, 1) -> bits 2 r + c
  static __device__ __forceinline__ uint32_t k_bits(uint32_t x) {
    return (x & 1u) | (((x >> 8) & 1u) << 2) | (((x >> 16) & 1u) << 1) | (((x >> 24) & 1u) << 3);
  }

  // masks m[block][r] of rows g + 8 r for the blocks col0 and col0 + 16
  __device__ __forceinline__ void pair_q_masks(int row0, int col0, int g, int t4, uint32_t (&m)[2][2]) const {
    const bool odd = g & 1;
    const Philox4x32 w(dropout_cell(col0 + 16 * odd + 2 * t4), dropout_cell(row0 + g), bh, offset, k0, k1);
    // rows g, g + 8 read words (g & 1) and (g & 1) | 2: keep mine, give the partner's
    const uint32_t mine0 = odd ? w.x[1] : w.x[0], mine1 = odd ? w.x[3] : w.x[2];
    const uint32_t give0 = odd ? w.x[0] : w.x[1], give1 = odd ? w.x[2] : w.x[3];
    const uint32_t got0 = __shfl_xor_sync(0xffffffffu, give0, 4), got1 = __shfl_xor_sync(0xffffffffu, give1, 4);
    m[odd][0] = below_mask(mine0);
    m[odd][1] = below_mask(mine1);
    m[!odd][0] = below_mask(got0);
    m[!odd][1] = below_mask(got1);
  }

  __device__ __forceinline__ void pair_q_rows(int row0, int col0, int g, int t4, uint32_t (&bits)[2]) const {
    uint32_t m[2][2];
    pair_q_masks(row0, col0, g, t4, m);
#pragma unroll
    for (int b = 0; b < 2; ++b) bits[b] = q_bits(m[b][0] & 0x01010101u, m[b][1] & 0x01010101u);
  }

  __device__ __forceinline__ void pair_k_rows(int row0, int col0, int g, int t4, uint32_t (&bits)[2]) const {
    const bool odd = g & 1;
    const Philox4x32 w(dropout_cell(row0 + g), dropout_cell(col0 + 16 * odd + 2 * t4), bh, offset, k0, k1);
    // keys g, g + 8 read bytes (g & 1) and (g & 1) | 2 of every word: pack mine, give the partner's
    const uint32_t sel_mine = odd ? 0x7531u : 0x6420u, sel_give = odd ? 0x6420u : 0x7531u;
    const uint32_t mine0 = __byte_perm(w.x[0], w.x[1], sel_mine), mine1 = __byte_perm(w.x[2], w.x[3], sel_mine);
    const uint32_t give0 = __byte_perm(w.x[0], w.x[1], sel_give), give1 = __byte_perm(w.x[2], w.x[3], sel_give);
    const uint32_t got0 = __shfl_xor_sync(0xffffffffu, give0, 4), got1 = __shfl_xor_sync(0xffffffffu, give1, 4);
    const uint32_t mine = k_bits(below(mine0)) | (k_bits(below(mine1)) << 4);
    const uint32_t got = k_bits(below(got0)) | (k_bits(below(got1)) << 4);
    bits[0] = odd ? got : mine;
    bits[1] = odd ? mine : got;
  }

 public:
#endif

  // Whether element (query i, key j) is kept: any layout, one generator call per element (the
  // SIMT kernels).
  __host__ __device__ __forceinline__ bool keep(int i, int j) const {
    const Philox4x32 w(dropout_cell(j), dropout_cell(i), bh, offset, k0, k1);
    const int k = 4 * ((i & 1) | ((i >> 2) & 2)) + ((j & 1) | ((j >> 2) & 2));
    return ((w.x[k >> 2] >> (8 * (k & 3))) & 0xFFu) < threshold;
  }
};

}  // namespace fdjl
