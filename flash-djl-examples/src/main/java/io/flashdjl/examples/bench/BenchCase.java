package io.flashdjl.examples.bench;

import java.util.Locale;

/**
 * One attention shape of a grid: q {@code [b, hq, nq, d]}, k and v {@code [b, hkv, nk, d]}.
 *
 * @param grid the grid it belongs to (fa3, memory, gqa, latency, cpu-smoke)
 */
record BenchCase(String grid, int b, int hq, int hkv, int nq, int nk, int d, boolean causal) {

    /** Forward FLOPs as the FlashAttention papers count them: {@code 4 B Hq Nq Nk d}, halved when causal. */
    double forwardFlops() {
        double f = 4.0 * b * hq * nq * nk * d;
        return causal ? f / 2 : f;
    }

    /** FLOPs of one direction: backward is 2.5 times the forward, forward+backward 3.5 times. */
    double flops(Direction dir) {
        switch (dir) {
            case BWD:
                return 2.5 * forwardFlops();
            case FWD_BWD:
                return 3.5 * forwardFlops();
            default:
                return forwardFlops();
        }
    }

    /** Elements of one full score matrix {@code B Hq Nq Nk}: what naive and math attention materialise. */
    double scoreElements() {
        return (double) b * hq * nq * nk;
    }

    /** The key a chart groups rows by: everything but N. */
    String series() {
        return String.format(
                Locale.ROOT,
                "%s d=%d%s Hq:Hkv=%d:%d%s",
                grid,
                d,
                causal ? " causal" : "",
                hq,
                hkv,
                nq == nk ? "" : " Nq!=Nk");
    }

    @Override
    public String toString() {
        return String.format(
                Locale.ROOT,
                "%s B=%d Hq=%d Hkv=%d Nq=%d Nk=%d d=%d%s",
                grid,
                b,
                hq,
                hkv,
                nq,
                nk,
                d,
                causal ? " causal" : "");
    }
}
