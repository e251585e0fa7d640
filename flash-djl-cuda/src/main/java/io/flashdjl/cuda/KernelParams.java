package io.flashdjl.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * Packs {@code FlashFwdParams}, {@code FlashBwdParams} and {@code FlashCastParams} of {@code
 * src/main/cuda/flash_params.h} byte for byte: little endian, natural alignment, no interior padding.
 * Layout (ABI version {@value #ABI_VERSION}, which the fatbin exports and {@link CudaKernels} checks at
 * load):
 *
 * <pre>
 * FlashTensor (32 B):  address, batch stride, head stride, row stride     (int64 each, strides in elements)
 * FlashFwdParams (768 B): tensors q, k, v, o; lse address; Sequences addresses (32 B); dropout seed (int64);
 *                         Bias (88 B); Dims (40 B); bottom-right anchor (int32); Dropout (12 B); bias kind
 *                         (int32); row tiles (int32); TMA loads (int32, 1 = the maps are set); 52 bytes of zero
 *                         (the maps' 64-byte alignment); tensor maps of q, k, v (128 B each, zero when unset)
 * FlashBwdParams (1024 B): tensors q, k, v, o, dout, dq, dk, dv; lse, dq_accum, delta addresses;
 *                         Sequences addresses (32 B); dropout seed (int64); Bias (88 B); Dims (40 B);
 *                         dq mode ({@link DqMode}), bottom-right anchor (int32); Dropout (12 B); bias kind (int32);
 *                         TMA loads (int32, 1 = the maps are set); stagger (int32, 1 = the ordered mode's
 *                         staggered starts); dq_turns address (int64, the ordered mode's counters); 24 bytes
 *                         of zero (the maps' 64-byte alignment); tensor maps of q, dout, k, v (128 B each, zero
 *                         when unset)
 * Bias (88 B): data, tiles, grad addresses; data strides (batch, head, row); tiles strides (batch, head);
 *              grad strides (batch, head, row) (int64 each; 0 broadcasts)
 * FlashBiasTilesParams (112 B): Bias; batch, heads, seqlen_q, seqlen_k, bias kind (int32); 4 bytes of zero
 * FlashTmaCopyParams (192 B): a tensor map (128 B, made by TensorMaps); dst address, dst row stride (int64);
 *                             rows, cols, swizzled (int32); 36 bytes of zero (the struct's 64-byte alignment)
 * Sequences (32 B): q offsets, k offsets, q lengths, k lengths (int32 arrays on the device; 0 = absent)
 * Dropout (12 B): offset (int32), keep threshold (int32, 0 = no dropout), scale (float32)
 * FlashCastParams (80 B): tensors src, dst; batch, heads, seqlen, head_dim (int32)
 * Dims (40 B): batch, heads_q, heads_kv, seqlen_q, seqlen_k, head_dim (int32); scale, scale * log2(e)
 *              (float32); visibility lower and upper offset (int32)
 * </pre>
 *
 * Field order is the ABI; change this class, flash_params.h and the Python harness's flash_ctypes.py
 * together, and bump the version in both.
 */
final class KernelParams {

    /** The parameter layout this class packs; must equal the fatbin's {@code flash_abi_version}. */
    static final int ABI_VERSION = 18;

    static final int FORWARD_BYTES = 768;
    static final int BACKWARD_BYTES = 1024;
    static final int CAST_BYTES = 80;
    static final int BIAS_TILES_BYTES = 112;
    static final int TMA_COPY_BYTES = 192;

    /** Room for the largest parameter block (FlashBwdParams, the TMA copy's) with space to spare. */
    static final int LAUNCH_BLOCK_BYTES = 1024;

    /** Bytes of a tensor map ({@code FlashTensorMap}: the driver's {@code CUtensorMap}, made by TensorMaps). */
    static final int MAP_BYTES = 128;

    /** Element strides of one 4-D tensor, in BHSD order of meaning: batch, head, row. */
    static final class Strides {
        final long batch;
        final long head;
        final long row;

        Strides(long batch, long head, long row) {
            this.batch = batch;
            this.head = head;
            this.row = row;
        }
    }

    /** One tensor argument: its device address and strides ({@code FlashTensor}). */
    static final class Tensor {
        final long address;
        final Strides strides;

        Tensor(long address, Strides strides) {
            this.address = address;
            this.strides = strides;
        }

        /** Whether {@code o} is the same argument: the same address and strides. */
        boolean sameAs(Tensor o) {
            return address == o.address
                    && strides.batch == o.strides.batch
                    && strides.head == o.strides.head
                    && strides.row == o.strides.row;
        }
    }

    /**
     * The sizes and scalars every kernel takes. Key {@code j} is visible to query {@code i} when {@code i +
     * lowerOffset <= j <= i + upperOffset} (io.flashdjl.spi.Visibility, clamped to {@code [-seqQ, seqK]}).
     */
    static final class Dims {
        final int batch;
        final int headsQ;
        final int headsKv;
        final int seqQ;
        final int seqK;
        final int headDim;
        final float scale;
        final int lowerOffset;
        final int upperOffset;

        Dims(
                int batch,
                int headsQ,
                int headsKv,
                int seqQ,
                int seqK,
                int headDim,
                float scale,
                int lowerOffset,
                int upperOffset) {
            this.batch = batch;
            this.headsQ = headsQ;
            this.headsKv = headsKv;
            this.seqQ = seqQ;
            this.seqK = seqK;
            this.headDim = headDim;
            this.scale = scale;
            this.lowerOffset = lowerOffset;
            this.upperOffset = upperOffset;
        }
    }

    /**
     * Where the sequences are ({@code SEQUENCES} in flash_params.h): device addresses of the int32 offsets
     * (packed) and lengths (padded), 0 where absent, and whether the band is anchored at each sequence's
     * bottom-right corner.
     */
    record Sequences(long queryOffsets, long keyOffsets, long queryLengths, long keyLengths, boolean bottomRight) {}

    /** Dropout ({@code DROPOUT} in flash_params.h): threshold 0 turns it off. */
    record Dropout(long seed, int offset, int threshold, float scale) {
        static final Dropout NONE = new Dropout(0, 0, 0, 1f);
    }

    /**
     * A score bias ({@code SCORE BIAS} in flash_params.h): device addresses of the values, their tile summary
     * and the float32 gradient (0: none), element strides of the values and the gradient and byte strides of
     * the summary (0 where the bias broadcasts), and the kind (0 none, 1 bool, 2 float32, 3 float16).
     */
    record Bias(
            long data,
            long tiles,
            long grad,
            Strides strides,
            long tilesBatchStride,
            long tilesHeadStride,
            Strides gradStrides,
            int kind) {
        static final Bias NONE = new Bias(0, 0, 0, new Strides(0, 0, 0), 0, 0, new Strides(0, 0, 0), 0);

        boolean present() {
            return kind != 0;
        }
    }

    /**
     * The tensor maps through which a kernel copies its operands ({@code TMA LOADS} in flash_params.h; made by
     * {@code TensorMaps.encodeOperand}), in the order of the struct's maps (forward: q, k, v; backward: q, dout, k,
     * v), or {@link #NONE}: the kernels' own copies.
     */
    record OperandMaps(List<byte[]> maps) {
        static final OperandMaps NONE = new OperandMaps(List.of());

        boolean present() {
            return !maps.isEmpty();
        }

        /**
         * The flag {@code tma_loads}, zeros up to the next 64-byte boundary, then {@code count} maps (zeros if none).
         */
        void put(ByteBuffer b, int count) {
            putFlag(b);
            putMaps(b, count);
        }

        /** The flag {@code tma_loads}. */
        void putFlag(ByteBuffer b) {
            b.putInt(present() ? 1 : 0);
        }

        /** Zeros up to the next 64-byte boundary, then {@code count} maps (zeros if none). */
        void putMaps(ByteBuffer b, int count) {
            if (present() && maps.size() != count) {
                throw new IllegalArgumentException("maps: expected " + count + " but got " + maps.size());
            }
            b.position(b.position() + (64 - b.position() % 64) % 64); // zeros, as the buffer starts
            if (present()) {
                maps.forEach(map -> b.put(checked(map)));
            } else {
                b.position(b.position() + count * MAP_BYTES); // unset maps: zeros
            }
        }
    }

    private static final float LOG2_E = (float) (1.0 / Math.log(2.0));

    private KernelParams() {}

    /**
     * FlashFwdParams: q, k, v, o; lse; sequences; seed; bias; dims; anchor; dropout; bias kind; the grid's row tiles
     * ({@link CudaKernels#rowTiles}, which persistent kernels walk); the operands' tensor maps, if any.
     */
    static byte[] forward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor o,
            long lse,
            Sequences s,
            Dropout z,
            Bias bias,
            Dims d,
            int rowTiles,
            OperandMaps maps) {
        ByteBuffer b = buffer(FORWARD_BYTES);
        put(b, q, k, v, o);
        b.putLong(lse);
        putSequences(b, s);
        b.putLong(z.seed());
        putBias(b, bias);
        putDims(b, d);
        b.putInt(s.bottomRight() ? 1 : 0);
        putDropout(b, z);
        b.putInt(bias.kind()).putInt(rowTiles);
        maps.put(b, 3);
        return done(b);
    }

    /** FlashBiasTilesParams: bias; batch and heads of the bias (1 where it broadcasts); seqQ, seqK; kind. */
    static byte[] biasTiles(Bias bias, int batch, int heads, int seqQ, int seqK) {
        ByteBuffer b = buffer(BIAS_TILES_BYTES);
        putBias(b, bias);
        b.putInt(batch)
                .putInt(heads)
                .putInt(seqQ)
                .putInt(seqK)
                .putInt(bias.kind())
                .putInt(0);
        return done(b);
    }

    /**
     * FlashBwdParams: tensors q, k, v, o, dout, dq, dk, dv; lse, dq_accum, delta; sequences; seed; dims;
     * the dq mode; anchor; dropout; bias kind; the maps of q, dout, k and v, if any, and the ordered mode's turn
     * counters and staggered starts ({@link DqMode#staggers}). {@code dqAccum} may be 0 when the convert kernel does
     * not run, {@code dqTurns} outside the ordered mode.
     */
    static byte[] backward(
            Tensor[] tensors,
            long lse,
            long dqAccum,
            long delta,
            Sequences s,
            Dropout z,
            Bias bias,
            Dims d,
            DqMode mode,
            long dqTurns,
            boolean staggered,
            OperandMaps maps) {
        if (tensors.length != 8) {
            throw new IllegalArgumentException(
                    "tensors: expected 8 (q, k, v, o, dout, dq, dk, dv) but got " + tensors.length);
        }
        ByteBuffer b = buffer(BACKWARD_BYTES);
        put(b, tensors);
        b.putLong(lse).putLong(dqAccum).putLong(delta);
        putSequences(b, s);
        b.putLong(z.seed());
        putBias(b, bias);
        putDims(b, d);
        b.putInt(mode.code);
        b.putInt(s.bottomRight() ? 1 : 0);
        putDropout(b, z);
        b.putInt(bias.kind());
        maps.putFlag(b);
        b.putInt(staggered ? 1 : 0).putLong(dqTurns);
        maps.putMaps(b, 4);
        return done(b);
    }

    /** FlashCastParams: src, dst; batch, heads, seqlen, head_dim. */
    static byte[] cast(Tensor src, Tensor dst, int batch, int heads, int seqLen, int headDim) {
        ByteBuffer b = buffer(CAST_BYTES);
        put(b, src, dst);
        b.putInt(batch).putInt(heads).putInt(seqLen).putInt(headDim);
        return done(b);
    }

    /** FlashTmaCopyParams: the source's tensor map; dst, its row stride; rows, cols. */
    static byte[] tmaCopy(byte[] map, long dst, long dstRowStride, int rows, int cols) {
        return tmaCopy(map, dst, dstRowStride, rows, cols, false);
    }

    /**
     * FlashTmaCopyParams with {@code swizzled}: the map was encoded with the 128-byte swizzle
     * ({@code TensorMaps.encode2d} with {@code swizzle128}), and the kernel reads its
     * boxes back through the layout the wgmma kernels' operands have.
     */
    static byte[] tmaCopy(byte[] map, long dst, long dstRowStride, int rows, int cols, boolean swizzled) {
        ByteBuffer b = buffer(TMA_COPY_BYTES);
        b.put(checked(map));
        b.putLong(dst).putLong(dstRowStride).putInt(rows).putInt(cols);
        b.putInt(swizzled ? 1 : 0).putInt(0);
        for (int i = 0; i < 4; i++) {
            b.putLong(0);
        }
        return done(b);
    }

    private static byte[] checked(byte[] map) {
        if (map.length != MAP_BYTES) {
            throw new IllegalArgumentException(
                    "map: expected " + MAP_BYTES + " bytes (a CUtensorMap) but got " + map.length);
        }
        return map;
    }

    private static ByteBuffer buffer(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void put(ByteBuffer b, Tensor... all) {
        for (Tensor t : all) {
            b.putLong(t.address)
                    .putLong(t.strides.batch)
                    .putLong(t.strides.head)
                    .putLong(t.strides.row);
        }
    }

    private static void putSequences(ByteBuffer b, Sequences s) {
        b.putLong(s.queryOffsets())
                .putLong(s.keyOffsets())
                .putLong(s.queryLengths())
                .putLong(s.keyLengths());
    }

    private static void putBias(ByteBuffer b, Bias bias) {
        b.putLong(bias.data()).putLong(bias.tiles()).putLong(bias.grad());
        b.putLong(bias.strides().batch).putLong(bias.strides().head).putLong(bias.strides().row);
        b.putLong(bias.tilesBatchStride()).putLong(bias.tilesHeadStride());
        b.putLong(bias.gradStrides().batch).putLong(bias.gradStrides().head).putLong(bias.gradStrides().row);
    }

    private static void putDropout(ByteBuffer b, Dropout z) {
        b.putInt(z.offset()).putInt(z.threshold()).putFloat(z.scale());
    }

    private static void putDims(ByteBuffer b, Dims d) {
        b.putInt(d.batch)
                .putInt(d.headsQ)
                .putInt(d.headsKv)
                .putInt(d.seqQ)
                .putInt(d.seqK)
                .putInt(d.headDim);
        b.putFloat(d.scale).putFloat(d.scale * LOG2_E);
        b.putInt(d.lowerOffset).putInt(d.upperOffset);
    }

    private static byte[] done(ByteBuffer b) {
        if (b.hasRemaining()) {
            throw new IllegalStateException("kernel parameter block not filled: " + b.remaining() + " bytes left");
        }
        return b.array();
    }
}
