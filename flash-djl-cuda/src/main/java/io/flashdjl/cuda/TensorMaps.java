package io.flashdjl.cuda;

import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tensor maps for the Tensor Memory Accelerator (TMA, sm_90a): the driver's {@code cuTensorMapEncodeTiled}, which
 * JCuda 12.6 does not bind, called through JNA on {@code libcuda}. A map is 128 opaque bytes that the kernels take
 * by value inside a {@code __grid_constant__} parameter struct ({@code TMA} in flash_params.h; {@link
 * KernelParams#tmaCopy}).
 *
 * <p>A driver without the function (or no driver) leaves the kernels on their current, TMA-free path: {@link
 * #unavailableReason()} says why, and the first time it is asked it says so once in the log.
 */
final class TensorMaps {

    private static final Logger logger = LoggerFactory.getLogger(TensorMaps.class);

    /** The alignment the encoder requires of a map. */
    private static final int ALIGNMENT = 64;

    // CUtensorMapDataType, CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill (cuda.h)
    private static final int TYPE_FLOAT16 = 6;
    private static final int TYPE_BFLOAT16 = 9;
    private static final int INTERLEAVE_NONE = 0;
    private static final int SWIZZLE_NONE = 0;
    private static final int SWIZZLE_128B = 3;
    private static final int L2_PROMOTION_128B = 2;
    private static final int OOB_FILL_ZEROS = 0;

    /** The one driver function this class needs. */
    interface Driver extends Library {
        int cuTensorMapEncodeTiled(
                Pointer map,
                int dataType,
                int rank,
                Pointer globalAddress,
                long[] globalDim,
                long[] globalStrides,
                int[] boxDim,
                int[] elementStrides,
                int interleave,
                int swizzle,
                int l2Promotion,
                int oobFill);
    }

    private static final class Holder {
        static final Driver DRIVER;
        static final String UNAVAILABLE;

        static {
            Driver driver = null;
            String reason = null;
            try {
                driver = Native.load("cuda", Driver.class);
                com.sun.jna.NativeLibrary.getInstance("cuda").getFunction("cuTensorMapEncodeTiled");
            } catch (UnsatisfiedLinkError | RuntimeException e) {
                driver = null;
                reason = "the CUDA driver library has no cuTensorMapEncodeTiled (" + e.getMessage() + ")";
            }
            DRIVER = driver;
            UNAVAILABLE = reason;
            if (reason != null) {
                logger.info("CUDA: no tensor maps: {}; the kernels keep their loads without TMA", reason);
            }
        }
    }

    private TensorMaps() {}

    /**
     * Whether tensor maps can be encoded here.
     *
     * @return empty if they can, else one line saying why not (logged once, at the first call)
     */
    static Optional<String> unavailableReason() {
        return Optional.ofNullable(Holder.UNAVAILABLE);
    }

    /**
     * A 2-D map of a row-major 16-bit matrix in device memory, read in boxes of {@code boxRows x boxCols}
     * elements, no swizzle, out-of-range elements read as zero.
     *
     * @param address the matrix's device address (16-byte aligned)
     * @param bfloat16 bfloat16 elements (which DJL has no dtype for) rather than float16
     * @param rows the rows
     * @param cols the columns
     * @param rowStrideElements elements from one row to the next (a multiple of 8: 16 bytes)
     * @param boxRows rows of a box (at most 256)
     * @param boxCols columns of a box (at most 256)
     * @return the 128 bytes of the map
     * @throws IllegalStateException when tensor maps are unavailable here
     * @throws CudaException when the driver refuses the map
     */
    static byte[] encode2d(
            long address, boolean bfloat16, long rows, long cols, long rowStrideElements, int boxRows, int boxCols) {
        return encode2d(address, bfloat16, rows, cols, rowStrideElements, boxRows, boxCols, false);
    }

    /**
     * {@link #encode2d(long, boolean, long, long, long, int, int)} with {@code swizzle128}: the box lands in shared
     * memory in the 128-byte swizzle (a box row of at most 128 bytes: {@code boxCols <= 64}; the destination 1024-byte
     * aligned), the layout the wgmma kernels' operands have.
     */
    static byte[] encode2d(
            long address,
            boolean bfloat16,
            long rows,
            long cols,
            long rowStrideElements,
            int boxRows,
            int boxCols,
            boolean swizzle128) {
        return encode(
                address,
                bfloat16,
                new long[] {cols, rows}, // innermost first
                new long[] {rowStrideElements * 2}, // bytes, the dimensions above the innermost
                new int[] {boxCols, boxRows},
                swizzle128,
                rows + " x " + cols + " (row stride " + rowStrideElements + ", box " + boxRows + " x " + boxCols + ")");
    }

    /** Columns and rows of the boxes the kernels load ({@code TMA LOADS} in flash_params.h). */
    static final int OPERAND_BOX = 64;

    /**
     * Whether the operand maps of a problem are rank 5 ({@code TMA LOADS} in flash_params.h; the kernels'
     * {@code tma_whole_block_map} holds the same rule): where the head dim is a whole number of
     * {@value #OPERAND_BOX}-column blocks, one box takes a tile's rows in every block.
     *
     * @param headDim the problem's head dim
     * @return true for rank-5 maps, false for rank 4
     */
    static boolean wholeBlockMap(long headDim) {
        return headDim % OPERAND_BOX == 0;
    }

    /**
     * The map of one 16-bit {@code [batch, heads, rows, cols]} operand ({@code TMA LOADS} in flash_params.h) over the
     * tensor's own element strides, landing in the 128-byte swizzle, out-of-range elements zero. Rank 4 with boxes of
     * {@value #OPERAND_BOX} columns x {@value #OPERAND_BOX} rows; or, with {@code wholeBlocks}, rank 5 (columns
     * within a block, rows, blocks, heads, batch) with boxes of {@value #OPERAND_BOX} rows of every block.
     *
     * @param address the tensor's device address (16-byte aligned)
     * @param bfloat16 bfloat16 elements rather than float16
     * @param dims batch, heads, rows, cols (the stored columns; with {@code wholeBlocks} a multiple of
     *     {@value #OPERAND_BOX})
     * @param strides element strides of batch, head and row (multiples of 8: 16 bytes)
     * @param wholeBlocks a rank-5 map ({@link #wholeBlockMap})
     * @return the 128 bytes of the map
     * @throws IllegalStateException when tensor maps are unavailable here
     * @throws CudaException when the driver refuses the map (a stride it cannot map)
     */
    static byte[] encodeOperand(
            long address, boolean bfloat16, long[] dims, KernelParams.Strides strides, boolean wholeBlocks) {
        if (wholeBlocks && dims[3] % OPERAND_BOX != 0) {
            throw new IllegalArgumentException(
                    "cols: expected a multiple of " + OPERAND_BOX + " for a rank-5 map but got " + dims[3]);
        }
        OperandKey key =
                new OperandKey(address, bfloat16, dims.clone(), strides.batch, strides.head, strides.row, wholeBlocks);
        Map<OperandKey, byte[]> recent = RECENT.get();
        byte[] map = recent.get(key);
        if (map == null) {
            map = encodeOperandNow(address, bfloat16, dims, strides, wholeBlocks);
            recent.put(key, map);
        }
        return map;
    }

    /** What an operand's map is made of: equal keys encode equal maps. */
    private record OperandKey(
            long address,
            boolean bfloat16,
            long[] dims,
            long batchStride,
            long headStride,
            long rowStride,
            boolean wholeBlocks) {
        @Override
        public boolean equals(Object o) {
            return o instanceof OperandKey k
                    && address == k.address
                    && bfloat16 == k.bfloat16
                    && wholeBlocks == k.wholeBlocks
                    && Arrays.equals(dims, k.dims)
                    && batchStride == k.batchStride
                    && headStride == k.headStride
                    && rowStride == k.rowStride;
        }

        @Override
        public int hashCode() {
            return Long.hashCode(address) * 31 + Arrays.hashCode(dims);
        }
    }

    /** How many operand maps each thread keeps. */
    private static final int RECENT_MAPS = 64;

    /**
     * Each thread's most recently encoded operand maps. A training step calls the forward and the backward on the
     * same few addresses and shapes every step (the allocator hands them back), so the driver call through JNA is
     * paid once per operand rather than for every operand of every call.
     */
    private static final ThreadLocal<Map<OperandKey, byte[]>> RECENT =
            ThreadLocal.withInitial(() -> new LinkedHashMap<>(RECENT_MAPS, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<OperandKey, byte[]> eldest) {
                    return size() > RECENT_MAPS;
                }
            });

    private static byte[] encodeOperandNow(
            long address, boolean bfloat16, long[] dims, KernelParams.Strides strides, boolean wholeBlocks) {
        String what = Arrays.toString(dims) + " (element strides " + strides.batch + ", " + strides.head + ", "
                + strides.row + (wholeBlocks ? ", rank 5)" : ")");
        if (wholeBlocks) {
            int blocks = Math.toIntExact(dims[3] / OPERAND_BOX);
            return encode(
                    address,
                    bfloat16,
                    new long[] {OPERAND_BOX, dims[2], blocks, dims[1], dims[0]},
                    new long[] {strides.row * 2, OPERAND_BOX * 2, strides.head * 2, strides.batch * 2},
                    new int[] {OPERAND_BOX, OPERAND_BOX, blocks, 1, 1},
                    true,
                    what);
        }
        return encode(
                address,
                bfloat16,
                new long[] {dims[3], dims[2], dims[1], dims[0]},
                new long[] {strides.row * 2, strides.head * 2, strides.batch * 2},
                new int[] {OPERAND_BOX, OPERAND_BOX, 1, 1},
                true,
                what);
    }

    private static byte[] encode(
            long address,
            boolean bfloat16,
            long[] dims,
            long[] byteStrides,
            int[] box,
            boolean swizzle128,
            String what) {
        String why = Holder.UNAVAILABLE;
        if (why != null) {
            throw new IllegalStateException("tensor maps: " + why);
        }
        int[] elementStrides = new int[dims.length];
        Arrays.fill(elementStrides, 1);
        try (Memory raw = new Memory(KernelParams.MAP_BYTES + ALIGNMENT)) {
            long misalign = Pointer.nativeValue(raw) % ALIGNMENT;
            Pointer map = raw.share(misalign == 0 ? 0 : ALIGNMENT - misalign, KernelParams.MAP_BYTES);
            int r = Holder.DRIVER.cuTensorMapEncodeTiled(
                    map,
                    bfloat16 ? TYPE_BFLOAT16 : TYPE_FLOAT16,
                    dims.length,
                    new Pointer(address),
                    dims,
                    byteStrides,
                    box,
                    elementStrides,
                    INTERLEAVE_NONE,
                    swizzle128 ? SWIZZLE_128B : SWIZZLE_NONE,
                    L2_PROMOTION_128B,
                    OOB_FILL_ZEROS);
            if (r != 0) {
                throw new CudaException(null, what, "cuTensorMapEncodeTiled", r);
            }
            return map.getByteArray(0, KernelParams.MAP_BYTES);
        }
    }
}
