package io.flashdjl.spi;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import io.flashdjl.AttentionOptions;

/**
 * The dropout generator of every backend that takes dropout: which attention probabilities are kept, as a
 * pure function of (seed, offset, sequence, query head, query, key). The CUDA kernels compute the same bits
 * ({@code flash_dropout.cuh}); this class is the Java twin the REFERENCE backend uses, and the one place where a
 * dropout rate becomes the kernels' threshold.
 *
 * <p>The queries {@code i} and keys {@code j} of a sequence are cut into cells of 4 x 4 elements, {@code i} in
 * {@code {p, p+1, p+8, p+9}} and {@code j} in {@code {q, q+1, q+8, q+9}} ({@code p = i & ~9}, {@code q = j & ~9}):
 * what one thread holds of two 8-column tiles of a tensor-core accumulator. A cell's 16 bytes are one
 * Philox4x32-10 block (Salmon et al., SC'11) of counter {@code (cell(j), cell(i), s * Hq + h, offset)} and key
 * {@code (seed low, seed high)}, with {@code cell(x) = (x >> 4) << 2 | (x >> 1) & 3}; element {@code (i, j)}
 * reads byte {@code k & 3} of word {@code k >> 2}, {@code k = 4 (i & 1 | (i >> 2) & 2) + (j & 1 | (j >> 2) & 2)},
 * and is kept when that byte is below the threshold. Indices count from the sequence's first row, and {@code s}
 * is the sequence: the batch row, or the packed sequence.
 */
public final class DropoutBits {

    private final int k0;
    private final int k1;
    private final int offset;
    private final int threshold;

    private DropoutBits(long seed, int offset, int threshold) {
        this.k0 = (int) seed;
        this.k1 = (int) (seed >>> 32);
        this.offset = offset;
        this.threshold = threshold;
    }

    /**
     * The generator of a call's options.
     *
     * @param options the options of the call
     * @return the generator, or null when the options have no dropout
     */
    public static DropoutBits of(AttentionOptions options) {
        int t = threshold(options.dropoutRate());
        return t == 256 ? null : new DropoutBits(options.dropoutSeed(), options.dropoutOffset(), t);
    }

    /**
     * The keep threshold of a rate: an element is kept when its random byte is below it, with probability
     * {@code threshold / 256}.
     *
     * @param rate the dropout rate, in {@code [0, 1)}
     * @return {@code round((1 - rate) * 256)}, at least 1 (256: nothing is dropped)
     */
    public static int threshold(double rate) {
        return (int) Math.max(1, Math.min(256, Math.round((1 - rate) * 256)));
    }

    /**
     * The kernels' threshold.
     *
     * @return in {@code 1..255}
     */
    public int threshold() {
        return threshold;
    }

    /**
     * What a kept element is multiplied by, so that its expectation is unchanged.
     *
     * @return {@code 256 / threshold}
     */
    public float scale() {
        return 256f / threshold;
    }

    /**
     * Whether one element is kept.
     *
     * @param sequence the sequence (batch row, or packed sequence)
     * @param headsQ the query heads of the call
     * @param head the query head
     * @param i the query, counted from the sequence's first row
     * @param j the key, counted from the sequence's first row
     * @return true when the element is kept
     */
    public boolean keep(long sequence, long headsQ, long head, long i, long j) {
        int[] w = philox(cell(j), cell(i), (int) (sequence * headsQ + head), offset, k0, k1);
        int k = 4 * (int) ((i & 1) | ((i >> 2) & 2)) + (int) ((j & 1) | ((j >> 2) & 2));
        return ((w[k >> 2] >>> (8 * (k & 3))) & 0xFF) < threshold;
    }

    /**
     * The keep mask of a block of elements, each query row and key row given by its sequence and its index in
     * it; an element whose query and key are not of one sequence is false. On the PyTorch engine the generator
     * runs as a TorchScript module on the device ({@link DropoutBitsModule}); elsewhere in a Java loop.
     *
     * @param manager the manager of the mask
     * @param device the device of the mask
     * @param headsQ the query heads
     * @param batch the batch rows
     * @param qs {@code [batch, R]}: each query row's sequence, -1 for none
     * @param qi {@code [batch, R]}: each query row's index in its sequence
     * @param ks {@code [batch, C]}: each key row's sequence, never -1
     * @param kj {@code [batch, C]}: each key row's index in its sequence
     * @return boolean {@code [batch, headsQ, R, C]}
     */
    NDArray keepMask(
            NDManager manager, Device device, long headsQ, long batch, long[] qs, long[] qi, long[] ks, long[] kj) {
        int rows = Math.toIntExact(qs.length / batch);
        int cols = Math.toIntExact(ks.length / batch);
        if ("PyTorch".equals(manager.getEngine().getEngineName())) {
            PtSymbolBlock module = DropoutBitsModule.get(device);
            NDArray key = manager.create(
                            new long[] {k0 & 0xFFFFFFFFL, k1 & 0xFFFFFFFFL, offset & 0xFFFFFFFFL, headsQ, threshold})
                    .toDevice(device, false);
            NDList in = new NDList(
                    key,
                    manager.create(qs, new Shape(batch, rows)).toDevice(device, false),
                    manager.create(qi, new Shape(batch, rows)).toDevice(device, false),
                    manager.create(ks, new Shape(batch, cols)).toDevice(device, false),
                    manager.create(kj, new Shape(batch, cols)).toDevice(device, false));
            return IValueUtils.forward(module, in, true).singletonOrThrow(); // training mode: see SdpaBackend.run
        }
        boolean[] keep = new boolean[Math.toIntExact(batch * headsQ * rows * cols)];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < headsQ; h++) {
                for (int r = 0; r < rows; r++) {
                    long s = qs[b * rows + r];
                    for (int c = 0; c < cols; c++) {
                        if (s >= 0 && ks[b * cols + c] == s) {
                            keep[((b * (int) headsQ + h) * rows + r) * cols + c] =
                                    keep(s, headsQ, h, qi[b * rows + r], kj[b * cols + c]);
                        }
                    }
                }
            }
        }
        return manager.create(keep, new Shape(batch, headsQ, rows, cols)).toDevice(device, false);
    }

    private static int cell(long x) {
        return (int) (((x >> 4) << 2) | ((x >> 1) & 3));
    }

    /**
     * Philox4x32-10 of a 128-bit counter and a 64-bit key: the block function under the bits.
     *
     * @param c0 counter word 0
     * @param c1 counter word 1
     * @param c2 counter word 2
     * @param c3 counter word 3
     * @param k0 key word 0
     * @param k1 key word 1
     * @return the four output words
     */
    public static int[] philox(int c0, int c1, int c2, int c3, int k0, int k1) {
        long x0 = c0 & 0xFFFFFFFFL;
        long x1 = c1 & 0xFFFFFFFFL;
        long x2 = c2 & 0xFFFFFFFFL;
        long x3 = c3 & 0xFFFFFFFFL;
        long a = k0 & 0xFFFFFFFFL;
        long b = k1 & 0xFFFFFFFFL;
        for (int r = 0; r < 10; r++) {
            long p0 = 0xD2511F53L * x0;
            long p1 = 0xCD9E8D57L * x2;
            long y0 = ((p1 >>> 32) ^ x1 ^ a) & 0xFFFFFFFFL;
            long y2 = ((p0 >>> 32) ^ x3 ^ b) & 0xFFFFFFFFL;
            x0 = y0;
            x1 = p1 & 0xFFFFFFFFL;
            x2 = y2;
            x3 = p0 & 0xFFFFFFFFL;
            a = (a + 0x9E3779B9L) & 0xFFFFFFFFL;
            b = (b + 0xBB67AE85L) & 0xFFFFFFFFL;
        }
        return new int[] {(int) x0, (int) x1, (int) x2, (int) x3};
    }
}
