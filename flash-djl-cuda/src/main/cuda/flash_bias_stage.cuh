// flash_bias_stage.cuh - the score bias of a partial tile staged in shared memory for the wgmma forwards
// (sm_90a): each computing warp copies its own 16 query rows x BC keys with cp.async, NB tiles ahead of the
// softmax that reads them, and reads them back in the accumulator layout (flash_wgmma.cuh).
// Per-element global loads in that layout, issued once S was ready, ran an ALiBi bias at 0.13-0.22x of SDPA's
// forward: their latency was exposed on every tile, and a warp's 2-byte loads used a quarter of each sector
// (PERF_LOG.md).
//
// A buffer holds 16 rows of BC elements (room for float32; a 16-bit or boolean bias fills its first part), rows
// BC * esize bytes apart, 16-byte chunk c of row r stored at chunk c ^ swizzle(r): a warp's reads of rows g and
// g + 8, keys 8n + 2t and 8n + 2t + 1, then fall in distinct banks for every element size. Each buffer has an
// mbarrier that completes when the 32 lanes' copies have landed (one arrival per lane, count 32).
#pragma once
#include "flash_bias.cuh"
#include "flash_common.cuh"
#include "flash_tiles.h"
#include "flash_wgmma.cuh"

namespace fdjl {

// 16-byte global->shared copy of which the first `bytes` (1..16) are read, the rest zero-filled
__device__ __forceinline__ void cp_async16_part(uint32_t saddr, const void* g, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(saddr), "l"(g), "r"(bytes));
}

template <int BC, int NB> struct BiasStage {
  static constexpr int ROWS = 16;              // a warp's rows of the accumulator
  static constexpr int BYTES = bias_stage_buffer_bytes(BC);  // a buffer (ROWS rows)
  static_assert(NB == 1 || NB == 2, "one or two buffers");
  static_assert(BC % 64 == 0, "whole rows of 16-byte chunks, at least 4 of them");

  uint32_t buf;     // this warp's buffer 0 (buffer k at buf + k * BYTES)
  uint32_t bar;     // its mbarrier (buffer k's at bar + 8 * k)
  uint32_t parity;  // bit k: the phase of buffer k's mbarrier to wait for next

  // The shared memory of NW warps at `base` (bias_stage_bytes, flash_tiles.h): NW * NB buffers, then NW * NB
  // mbarriers (16-byte aligned).
  // thread 0, before the CTA's first barrier
  __device__ __forceinline__ static void init(uint32_t base, int nw) {
    for (int i = 0; i < nw * NB; ++i) mbar_init(base + nw * NB * BYTES + 8 * i, 32);
  }
  __device__ __forceinline__ BiasStage(uint32_t base, int nw, int warp)
      : buf(base + warp * NB * BYTES), bar(base + nw * NB * BYTES + 8 * warp * NB), parity(0) {}

  // what row r's chunks are XORed with (cpr chunks per row, es bytes per element): chunk c lies at slot c ^ this
  __host__ __device__ static constexpr int swizzle(int r, int es, int cpr) {
    return (r * (es == 4 ? 2 : 1)) & ((cpr < 8 ? cpr : 8) - 1);
  }

  // Buffer k <- the bias of sequence rows r0 .. r0 + 15, keys n0 .. n0 + BC - 1 (nq, nk: the sequence's rows and
  // keys; rows and keys past them are not read). Rows whose starts are 16-byte aligned are copied by cp.async,
  // others chunk by chunk through registers (a bias whose row length is not a multiple of 16 bytes).
  template <typename P>
  __device__ __forceinline__ void fill(const P& p, const ScoreBias<true>& b, int k, int r0, int n0, int nq, int nk,
                                       int lane) const {
    __syncwarp();  // every lane has read what buffer k held
    const int es = bias_esize(p.bias_kind), cpr = BC * es / 16, lg = __ffs(cpr) - 1, per = 16 / es;
    const int64_t rs = p.bias.row_stride * es;
    const unsigned char* src0 =
        static_cast<const unsigned char*>(p.bias.data) + (b.at + (int64_t)r0 * p.bias.row_stride + n0) * es;
    const bool aligned = ((reinterpret_cast<uintptr_t>(src0) | (uintptr_t)rs) & 15) == 0;
    const uint32_t dst = buf + k * BYTES;
    for (int i = lane; i < ROWS * cpr; i += 32) {
      const int r = i >> lg, c = i & (cpr - 1);
      const int bytes = min(16, (nk - n0 - c * per) * es);
      if (r0 + r >= nq || bytes <= 0) continue;
      const uint32_t d = dst + r * cpr * 16 + (c ^ swizzle(r, es, cpr)) * 16;
      const unsigned char* s = src0 + r * rs + c * 16;
      if (aligned) {
        cp_async16_part(d, s, bytes);
      } else {
        uint32_t w[4] = {0u, 0u, 0u, 0u};
        for (int e = 0; e < bytes; e += es) {
          const uint32_t v = es == 4 ? *reinterpret_cast<const uint32_t*>(s + e)
                             : es == 2 ? *reinterpret_cast<const uint16_t*>(s + e) : s[e];
          w[e >> 2] |= v << (8 * (e & 3));
        }
        asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(d), "r"(w[0]), "r"(w[1]), "r"(w[2]),
                     "r"(w[3]) : "memory");
      }
    }
    if (aligned) cp_async_mbar_arrive(bar + 8 * k);
    else mbar_arrive(bar + 8 * k);
  }

  // until buffer k's copies have landed (every lane: each reads the others' chunks)
  __device__ __forceinline__ void wait(int k) {
    mbar_wait(bar + 8 * k, (parity >> k) & 1u);
    parity ^= 1u << k;
  }

  // s += inv_scale x the bias in buffer k, over the accumulator's rows g and g + 8 of the warp (register 4n + 2h + e:
  // row g + 8h, key 8n + 2t + e; NP8 = BC / 8 key groups). KIND is a constant, so that each row's reads are one base
  // address plus constant offsets: the chunk of key 8n + 2t is n's (a constant) XOR the thread's (the row's swizzle,
  // and t's part for float32).
  template <int KIND, int NP8>
  __device__ __forceinline__ void add(float* s, int k, int g, int t4, float inv_scale) const {
    constexpr int es = bias_esize(KIND), cpr = BC * es / 16;
    const int tc = (2 * t4 * es) >> 4, tw = (2 * t4 * es) & 15;  // t's chunk (0 or 1) and byte in it
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = g + 8 * h;
      const uint32_t base = buf + k * BYTES + r * cpr * 16 + tw;
      const int x = swizzle(r, es, cpr) ^ tc;  // n's chunk is even where tc can be 1: the XOR adds t's
#pragma unroll
      for (int n = 0; n < NP8; ++n) {
        const uint32_t a = base + ((((n * 8 * es) >> 4) ^ x) << 4) + ((n * 8 * es) & 15);
        float2 b;
        if constexpr (KIND == kBiasBool) {
          uint32_t u;
          asm volatile("ld.shared.u16 %0, [%1];\n" : "=r"(u) : "r"(a));
          b = make_float2((u & 0xffu) ? 0.f : -INFINITY, (u >> 8) ? 0.f : -INFINITY);
        } else if constexpr (KIND == kBiasF32) {
          asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];\n" : "=f"(b.x), "=f"(b.y) : "r"(a));
        } else {
          uint32_t u;
          asm volatile("ld.shared.b32 %0, [%1];\n" : "=r"(u) : "r"(a));
          if constexpr (KIND == kBiasF16) b = __half22float2(*reinterpret_cast<const __half2*>(&u));
          else b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u));
        }
        s[4 * n + 2 * h] = fmaf(b.x, inv_scale, s[4 * n + 2 * h]);
        s[4 * n + 2 * h + 1] = fmaf(b.y, inv_scale, s[4 * n + 2 * h + 1]);
      }
    }
  }
};

}  // namespace fdjl
