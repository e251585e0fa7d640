package io.flashdjl.cuda;

/**
 * How a backward makes dq ({@code FlashBwdParams.deterministic} in flash_params.h): the value the kernels read, and
 * which kernels and scratch that takes.
 */
enum DqMode {
    /** The dK/dV kernel adds each key tile's dS K into a float32 accumulator with atomics; convert writes dq. */
    ATOMIC(0),
    /** The dq kernel writes dq itself, one CTA per query tile: the same bits every run, S and dP computed twice. */
    DQ_KERNEL(1),
    /**
     * The atomic mode's kernels, with each query tile's adds taken in turn from the last key tile to the first
     * ({@code ORDERED DQ}): the same bits every run, and only the atomic mode's products.
     */
    ORDERED(2);

    /** The value of {@code FlashBwdParams.deterministic}. */
    final int code;

    DqMode(int code) {
        this.code = code;
    }

    /** Whether the dK/dV kernel adds into the float32 accumulator, which the convert kernel then scales into dq. */
    boolean throughAccumulator() {
        return this != DQ_KERNEL;
    }

    /**
     * The mode of a call: without determinism, atomics where the dK/dV kernel adds dQ ({@code dkdvAddsDq}: the
     * 16-bit kernels but d = 256's on Hopper, every float32 3xTF32 kernel of Hopper); with it, ordered adds where
     * the dK/dV kernel takes them and the call meets their conditions ({@code ordered}: no score bias, no sequences,
     * Q and dO copied through tensor maps); otherwise the dq kernel.
     */
    static DqMode of(boolean deterministic, boolean dkdvAddsDq, boolean ordered) {
        if (!deterministic) {
            return dkdvAddsDq ? ATOMIC : DQ_KERNEL;
        }
        return ordered ? ORDERED : DQ_KERNEL;
    }

    /**
     * The turn counters the ordered mode keeps, one per 64 query rows of each (batch, query head): the length of
     * {@code FlashBwdParams.dq_turns} in uint32.
     */
    static long turnCounters(long batch, long headsQ, long seqQ) {
        return batch * headsQ * ((seqQ + 63) / 64);
    }

    /**
     * Whether the dK/dV kernel's key tiles start their walks over the query tiles spread out ({@code STAGGERED
     * STARTS}, {@code FlashBwdParams.stagger}): in the ordered mode where every row sees every key, so that the key
     * tiles reach a query tile at different steps and its turns rarely wait (without them, the ordered mode measured
     * 0.82-0.88x the atomic one at 1k-4k keys; with them 0.93-0.99x). A key tile may then wait for one whose CTA
     * started after its own, so all {@code keyTiles} CTAs of a head must be resident at once: at most one per SM of
     * the device's {@code multiprocessors}. The atomic mode measured level with them and keeps its plain walk.
     */
    static boolean staggers(DqMode mode, boolean everyKeySeen, long keyTiles, int multiprocessors) {
        return mode == ORDERED && everyKeySeen && keyTiles <= multiprocessors;
    }
}
