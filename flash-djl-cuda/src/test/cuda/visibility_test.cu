// visibility_test.cu - host-side check of the kernels' Visibility type (flash_views.cuh) against
// brute force: the tile ranges hold every visible (query, key) pair, a tile that is not masked
// has only visible keys, and the per-row ranges are exact; and the band of a sequence of other
// lengths (Sequence, the bottom-right shift) is the one Java's Visibility.of gives those lengths,
// written out here. Needs nvcc, no GPU:
//   nvcc -std=c++17 -I flash-djl-cuda/src/main/cuda -o /tmp/visibility_test \
//        flash-djl-cuda/src/test/cuda/visibility_test.cu && /tmp/visibility_test
#include <cstdio>
#include <cstdlib>
#include <random>
#include "flash_views.cuh"

using fdjl::Visibility;

static int failures = 0;
#define CHECK(cond, ...)                                  \
  do {                                                    \
    if (!(cond)) {                                        \
      if (++failures <= 20) {                             \
        std::printf("FAIL %s: ", #cond);                  \
        std::printf(__VA_ARGS__);                         \
        std::printf("\n");                                \
      }                                                   \
    }                                                     \
  } while (0)

static bool brute(int i, int j, int Nk, int lo, int hi) { return j >= 0 && j < Nk && j >= i + lo && j <= i + hi; }

static void check(int Nq, int Nk, int lo, int hi, int br, int bc) {
  FlashFwdParams p{};
  p.seqlen_q = Nq;
  p.seqlen_k = Nk;
  p.vis_lo = lo;
  p.vis_hi = hi;
  const Visibility vis(p, fdjl::Sequence(p, 0));
  for (int i = 0; i < Nq; ++i) {
    int first = -1, end = 0;
    for (int j = 0; j < Nk; ++j) {
      CHECK(vis.visible(i, j) == brute(i, j, Nk, lo, hi), "Nq=%d Nk=%d lo=%d hi=%d i=%d j=%d", Nq, Nk, lo, hi, i, j);
      if (brute(i, j, Nk, lo, hi)) {
        if (first < 0) first = j;
        end = j + 1;
      }
    }
    if (first >= 0) {
      CHECK(vis.first_key(i) == first && vis.end_key(i) == end, "row %d of Nq=%d Nk=%d lo=%d hi=%d", i, Nq, Nk, lo, hi);
    } else {
      CHECK(vis.first_key(i) >= vis.end_key(i), "row %d sees no key: Nq=%d Nk=%d lo=%d hi=%d", i, Nq, Nk, lo, hi);
    }
  }
  for (int j = 0; j < Nk; ++j) {
    int first = -1, end = 0;
    for (int i = 0; i < Nq; ++i)
      if (brute(i, j, Nk, lo, hi)) {
        if (first < 0) first = i;
        end = i + 1;
      }
    if (first >= 0) {
      CHECK(vis.first_query(j) == first && vis.end_query(j) == end, "key %d of Nq=%d Nk=%d lo=%d hi=%d", j, Nq, Nk, lo, hi);
    } else {
      CHECK(vis.first_query(j) >= vis.end_query(j), "key %d seen by none: Nq=%d Nk=%d lo=%d hi=%d", j, Nq, Nk, lo, hi);
    }
  }
  const int m_tiles = (Nq + br - 1) / br, n_tiles = (Nk + bc - 1) / bc;
  for (int mt = 0; mt < m_tiles; ++mt) {
    const int m0 = mt * br;
    const fdjl::TileRange kt = vis.key_tiles(m0, br, bc);
    const Visibility::MaskedTiles masked = vis.masked_key_tiles(m0, br, bc);
    CHECK(kt.size() == 0 || (kt.begin >= 0 && kt.end <= n_tiles && kt.begin < kt.end), "key_tiles [%d, %d)", kt.begin,
          kt.end);
    for (int nt = 0; nt < n_tiles; ++nt) {
      const int n0 = nt * bc;
      bool any = false, all = true;
      for (int i = m0; i < m0 + br && i < Nq; ++i)
        for (int j = n0; j < n0 + bc; ++j) {
          const bool v = brute(i, j, Nk, lo, hi);
          any |= v;
          all &= v;
        }
      CHECK(!any || (kt.begin <= nt && nt < kt.end), "key tile %d of row tile %d skipped: Nq=%d Nk=%d lo=%d hi=%d",
            nt, mt, Nq, Nk, lo, hi);
      const bool need = vis.needs_mask(m0, br, n0, bc);
      CHECK(all || need, "tile (%d, %d) unmasked with invisible keys: Nq=%d Nk=%d lo=%d hi=%d", mt, nt, Nq, Nk, lo, hi);
      CHECK(need == masked(n0), "masked_key_tiles != needs_mask at (%d, %d)", mt, nt);
      const fdjl::TileRange qt = vis.query_tiles(n0, bc, br);
      CHECK(qt.size() == 0 || (qt.begin >= 0 && qt.end <= m_tiles && qt.begin < qt.end), "query_tiles [%d, %d)",
            qt.begin, qt.end);
      CHECK(!any || (qt.begin <= mt && mt < qt.end), "row tile %d of key tile %d skipped: Nq=%d Nk=%d lo=%d hi=%d",
            mt, nt, Nq, Nk, lo, hi);
    }
  }
}

// Java's Visibility.of(options, nq, nk): mask 0 none, 1 causal top-left, 2 causal bottom-right;
// a window (left, right; -1 unbounded) around the mask's diagonal; clamped to [-nq, nk]
static void java_band(int nq, int nk, int mask, int left, int right, int* lo, int* hi) {
  const int mlo = -nq, mhi = mask == 0 ? nk : mask == 1 ? 0 : nk - nq;
  const int diag = mask == 2 ? nk - nq : 0;
  int l = left < 0 ? mlo : diag - left, h = right < 0 ? mhi : diag + right;
  l = l > mlo ? l : mlo;
  h = h < mhi ? h : mhi;
  *lo = l < -nq ? -nq : (l > nk ? nk : l);
  *hi = h < -nq ? -nq : (h > nk ? nk : h);
}

// A sequence of ql <= Nq queries and kl <= Nk keys inside Nq x Nk tensors: the kernels' band for it
// from the tensors' band must be Java's band for (ql, kl).
static int check_sequences(std::mt19937& rng) {
  int cases = 0;
  for (int c = 0; c < 20000; ++c) {
    const int Nq = 1 + rng() % 300, Nk = 1 + rng() % 300;
    int ql = rng() % (Nq + 1), kl = rng() % (Nk + 1);
    const int mask = rng() % 3;
    const int left = (int)(rng() % 40) - 5, right = (int)(rng() % 40) - 5;  // some -1 .. -5: unbounded
    FlashFwdParams p{};
    p.seqlen_q = Nq;
    p.seqlen_k = Nk;
    java_band(Nq, Nk, mask, left < 0 ? -1 : left, right < 0 ? -1 : right, &p.vis_lo, &p.vis_hi);
    p.vis_bottom_right = mask == 2;
    p.q_lengths = &ql;
    p.k_lengths = &kl;
    const Visibility vis(p, fdjl::Sequence(p, 0));
    int lo, hi;
    java_band(ql, kl, mask, left < 0 ? -1 : left, right < 0 ? -1 : right, &lo, &hi);
    CHECK(vis.Nq == ql && vis.Nk == kl && vis.lo == lo && vis.hi == hi,
          "Nq=%d Nk=%d ql=%d kl=%d mask=%d window (%d, %d): kernels (%d, %d), Java (%d, %d)", Nq, Nk, ql, kl, mask,
          left, right, vis.lo, vis.hi, lo, hi);
    ++cases;
  }
  return cases;
}

int main() {
  std::mt19937 rng(12345);
  const int tiles[] = {16, 32, 64, 128};
  int cases = 0;
  for (int c = 0; c < 3000; ++c) {
    const int Nq = 1 + rng() % 300, Nk = 1 + rng() % 300;
    int lo, hi;
    switch (c % 4) {
      case 0: lo = -Nq; hi = Nk; break;                   // no mask
      case 1: lo = -Nq; hi = (c & 4) ? 0 : Nk - Nq; break;  // causal top-left / bottom-right
      default: {                                           // any band, clamped as the launcher does
        hi = -Nq + (int)(rng() % (Nq + Nk + 1));
        lo = hi - (int)(rng() % (Nq + Nk + 1));
        lo = lo < -Nq ? -Nq : lo;
      }
    }
    hi = hi > Nk ? Nk : hi;
    check(Nq, Nk, lo, hi, tiles[rng() % 4], tiles[rng() % 4]);
    ++cases;
  }
  cases += check_sequences(rng);
  std::printf("%d passed, %d failed\n", failures ? 0 : cases, failures);
  return failures ? 1 : 0;
}
