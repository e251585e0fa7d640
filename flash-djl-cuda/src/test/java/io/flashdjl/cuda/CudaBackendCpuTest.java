package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Sequences;
import io.flashdjl.spi.AttentionProblem;
import io.flashdjl.testing.TestSeed;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** What CI (no GPU) can check of the CUDA module: it is found, it says why it cannot run, AUTO falls back. */
@ExtendWith(TestSeed.class)
class CudaBackendCpuTest {

    @Test
    void cudaOnCpuArraysSaysWhy() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray q = m.randomNormal(new Shape(1, 2, 9, 32));
            AttentionOptions opts =
                    AttentionOptions.builder().optBackend(Backend.CUDA).build();
            UnsupportedOperationException e =
                    assertThrows(UnsupportedOperationException.class, () -> FlashAttention.forward(q, q, q, opts));
            assertTrue(e.getMessage().startsWith("backend CUDA "), e.getMessage());
            // AUTO still runs, on the reference backend
            assertEquals(Backend.REFERENCE, FlashAttention.forward(q, q, q).backend());
        }
    }

    @Test
    void kernelHeadDimensionsRoundUp() {
        int[] compiled = {32, 64, 96, 128, 192, 256};
        assertEquals(32, CudaKernels.kernelHeadDim(compiled, 8));
        assertEquals(96, CudaKernels.kernelHeadDim(compiled, 80));
        assertEquals(128, CudaKernels.kernelHeadDim(compiled, 128));
        assertEquals(192, CudaKernels.kernelHeadDim(compiled, 136));
        assertEquals(192, CudaKernels.kernelHeadDim(compiled, 192));
        assertEquals(256, CudaKernels.kernelHeadDim(compiled, 200));
        assertThrows(IllegalArgumentException.class, () -> CudaKernels.kernelHeadDim(compiled, 257));
    }

    @Test
    void parameterBlocksMatchTheStructLayouts() {
        KernelParams.Tensor t = new KernelParams.Tensor(7, new KernelParams.Strides(1, 2, 3));
        KernelParams.Dims d = new KernelParams.Dims(1, 2, 2, 3, 4, 64, 0.125f, -5, 6);
        KernelParams.Sequences s = new KernelParams.Sequences(21, 22, 23, 24, true);
        KernelParams.Dropout z = new KernelParams.Dropout(0x1234_5678_9abcL, 31, 230, 256f / 230);
        KernelParams.Bias bias = new KernelParams.Bias(
                41, 42, 43, new KernelParams.Strides(44, 0, 45), 46, 0, new KernelParams.Strides(47, 0, 0), 3);
        byte[] qMap = new byte[128];
        byte[] vMap = new byte[128];
        qMap[0] = 61;
        vMap[127] = 63;
        KernelParams.OperandMaps maps = new KernelParams.OperandMaps(List.of(qMap, new byte[128], vMap));
        ByteBuffer fwd = ByteBuffer.wrap(KernelParams.forward(t, t, t, t, 5, s, z, bias, d, 51, maps))
                .order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(768, fwd.capacity());
        assertEquals(7, fwd.getLong(96)); // o.data after three 32-byte tensors
        assertEquals(5, fwd.getLong(128)); // lse
        assertEquals(21, fwd.getLong(136)); // q_offsets
        assertEquals(24, fwd.getLong(160)); // k_lengths
        assertEquals(0x1234_5678_9abcL, fwd.getLong(168)); // dropout_seed
        assertEquals(41, fwd.getLong(176)); // bias.data
        assertEquals(43, fwd.getLong(192)); // bias.grad
        assertEquals(45, fwd.getLong(216)); // bias.row_stride
        assertEquals(46, fwd.getLong(224)); // bias.tiles_batch_stride
        assertEquals(47, fwd.getLong(240)); // bias.grad_batch_stride
        assertEquals(1, fwd.getInt(264)); // batch
        assertEquals(-5, fwd.getInt(296)); // vis_lo
        assertEquals(6, fwd.getInt(300)); // vis_hi
        assertEquals(1, fwd.getInt(304)); // vis_bottom_right
        assertEquals(31, fwd.getInt(308)); // dropout_offset
        assertEquals(230, fwd.getInt(312)); // dropout_threshold
        assertEquals(256f / 230, fwd.getFloat(316)); // dropout_scale
        assertEquals(3, fwd.getInt(320)); // bias_kind
        assertEquals(51, fwd.getInt(324)); // row_tiles
        assertEquals(1, fwd.getInt(328)); // tma_loads
        assertEquals(61, fwd.get(384)); // q_map, 64-byte aligned
        assertEquals(63, fwd.get(767)); // v_map's last byte
        ByteBuffer unmapped = ByteBuffer.wrap(
                        KernelParams.forward(t, t, t, t, 5, s, z, bias, d, 51, KernelParams.OperandMaps.NONE))
                .order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0, unmapped.getInt(328)); // tma_loads
        assertEquals(0, unmapped.get(384)); // the maps' bytes: zero
        KernelParams.Tensor[] eight = {t, t, t, t, t, t, t, t};
        byte[] kMap = new byte[128];
        kMap[0] = 62;
        KernelParams.OperandMaps bwdMaps = new KernelParams.OperandMaps(List.of(qMap, new byte[128], kMap, vMap));
        ByteBuffer bwd = ByteBuffer.wrap(
                        KernelParams.backward(eight, 11, 12, 13, s, z, bias, d, DqMode.ORDERED, 14, true, bwdMaps))
                .order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1024, bwd.capacity());
        assertEquals(1, bwd.getInt(472)); // tma_loads
        assertEquals(1, bwd.getInt(476)); // stagger
        assertEquals(14, bwd.getLong(480)); // dq_turns
        assertEquals(61, bwd.get(512)); // q_map, 64-byte aligned
        assertEquals(62, bwd.get(768)); // k_map, after dout_map
        assertEquals(63, bwd.get(1023)); // v_map's last byte
        assertThrows(
                IllegalArgumentException.class,
                () -> KernelParams.backward(
                        eight, 11, 12, 13, s, z, bias, d, DqMode.DQ_KERNEL, 0, false, maps)); // three maps, not four
        assertEquals(3, bwd.getLong(248)); // dv.row_stride
        assertEquals(12, bwd.getLong(264)); // dq_accum
        assertEquals(22, bwd.getLong(288)); // k_offsets
        assertEquals(0x1234_5678_9abcL, bwd.getLong(312)); // dropout_seed
        assertEquals(41, bwd.getLong(320)); // bias.data
        assertEquals(-5, bwd.getInt(440)); // vis_lo
        assertEquals(2, bwd.getInt(448)); // deterministic: the ordered mode
        assertEquals(1, bwd.getInt(452)); // vis_bottom_right
        assertEquals(230, bwd.getInt(460)); // dropout_threshold
        assertEquals(3, bwd.getInt(468)); // bias_kind
        ByteBuffer tiles =
                ByteBuffer.wrap(KernelParams.biasTiles(bias, 2, 1, 300, 517)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(112, tiles.capacity());
        assertEquals(42, tiles.getLong(8)); // bias.tiles
        assertEquals(2, tiles.getInt(88)); // batch
        assertEquals(517, tiles.getInt(100)); // seqlen_k
        assertEquals(3, tiles.getInt(104)); // bias_kind
        byte[] map = new byte[128];
        map[127] = 9;
        ByteBuffer tma =
                ByteBuffer.wrap(KernelParams.tmaCopy(map, 51, 52, 300, 520)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(192, tma.capacity());
        assertEquals(9, tma.get(127)); // the map's last byte
        assertEquals(51, tma.getLong(128)); // dst
        assertEquals(52, tma.getLong(136)); // dst_row_stride
        assertEquals(520, tma.getInt(148)); // cols
        assertEquals(0, tma.getInt(152)); // swizzled
        ByteBuffer tmaSwizzled = ByteBuffer.wrap(KernelParams.tmaCopy(map, 51, 52, 300, 520, true))
                .order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(192, tmaSwizzled.capacity());
        assertEquals(1, tmaSwizzled.getInt(152)); // swizzled
        assertThrows(IllegalArgumentException.class, () -> KernelParams.tmaCopy(new byte[64], 0, 0, 1, 1));
    }

    @Test
    void everyParameterBlockFitsTheLaunchBuffer() {
        // CudaKernels copies each block into a per-thread buffer of fixed size: a struct that outgrows it fails at
        // its first launch, so a new ABI must grow the buffer too
        for (int bytes : new int[] {
            KernelParams.FORWARD_BYTES,
            KernelParams.BACKWARD_BYTES,
            KernelParams.CAST_BYTES,
            KernelParams.BIAS_TILES_BYTES,
            KernelParams.TMA_COPY_BYTES
        }) {
            assertTrue(
                    bytes <= KernelParams.LAUNCH_BLOCK_BYTES,
                    bytes + " bytes > the launch buffer's " + KernelParams.LAUNCH_BLOCK_BYTES);
        }
    }

    @Test
    void aQueuedPersistentKernelRunsOnEverySmAndOthersGetOneBlockPerTile() {
        Kernel persistent = new Kernel("flash_fwd_f16_hd128", null, 384, 128, 230_464, 1);
        Kernel plain = new Kernel("flash_fwd_f16_hd64", null, 256, 128, 0, 0);
        assertArrayEquals(new int[] {132, 1, 1}, CudaKernels.grid(persistent, 4, 16, 32, 132, true));
        assertArrayEquals(new int[] {60, 1, 1}, CudaKernels.grid(persistent, 2, 3, 10, 132, true));
        assertArrayEquals(new int[] {2048, 1, 1}, CudaKernels.grid(persistent, 4, 16, 32, 132, false));
        assertArrayEquals(new int[] {4, 16, 32}, CudaKernels.grid(plain, 4, 16, 32, 132, true));
        assertEquals(9, CudaKernels.rowTiles(persistent, 1025));
        assertEquals(8, CudaKernels.rowTiles(persistent, 1024));
    }

    @Test
    void tilesOfEqualCostOrFewKeysGoThroughTheQueue() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            int limit = CudaBackend.QUEUED_UNEVEN_MAX_KEYS;
            NDArray q = m.randomNormal(new Shape(1, 2, limit, 8));
            NDArray kLong = m.randomNormal(new Shape(1, 2, limit + 1, 8));
            AttentionOptions full = AttentionOptions.builder().build();
            AttentionOptions causal = AttentionOptions.builder().optCausal(true).build();
            AttentionOptions window =
                    AttentionOptions.builder().optSlidingWindow(64, 64).build();
            // equal tiles: always, whatever the length
            assertTrue(CudaBackend.queuedRowTiles(AttentionProblem.validate(q, kLong, kLong, full), false));
            // unequal tiles (mask, bias, sequences): up to the limit of keys, not past it
            assertTrue(CudaBackend.queuedRowTiles(AttentionProblem.validate(q, q, q, causal), false));
            assertTrue(CudaBackend.queuedRowTiles(AttentionProblem.validate(q, q, q, full), true));
            assertFalse(CudaBackend.queuedRowTiles(AttentionProblem.validate(q, kLong, kLong, causal), false));
            assertFalse(CudaBackend.queuedRowTiles(AttentionProblem.validate(q, kLong, kLong, full), true));
            assertFalse(CudaBackend.queuedRowTiles(AttentionProblem.validate(q, kLong, kLong, window), false));
            Sequences lengths = Sequences.padded(null, m.create(new int[] {limit + 1}));
            assertFalse(CudaBackend.queuedRowTiles(AttentionProblem.validate(q, kLong, kLong, lengths, full), false));
        }
    }

    @Test
    void theSlowFloat32PathIsTheOneWithoutSharedMemory() {
        Kernel simt = new Kernel("flash_fwd_f32_hd256", null, 256, 8, 0, 0);
        Kernel tensorCores = new Kernel("flash_fwd_f32_hd64", null, 128, 64, 89_088, 0);
        assertTrue(CudaBackend.runsOnSimt(KernelDtype.F32, simt));
        assertFalse(CudaBackend.runsOnSimt(KernelDtype.F32, tensorCores));
        assertFalse(CudaBackend.runsOnSimt(KernelDtype.F16, new Kernel("flash_fwd_f16_hd64", null, 256, 128, 0, 0)));
    }

    @Test
    void dqModeFollowsDeterminismAndWhatTheDkdvKernelCanDo() {
        assertEquals(DqMode.ATOMIC, DqMode.of(false, true, false));
        // ordered adds are a deterministic mode only
        assertEquals(DqMode.ATOMIC, DqMode.of(false, true, true));
        assertEquals(DqMode.ORDERED, DqMode.of(true, true, true));
        // deterministic without the ordered mode's kernel or conditions: the dq kernel
        assertEquals(DqMode.DQ_KERNEL, DqMode.of(true, true, false));
        // a dK/dV kernel that computes no dQ (16-bit d = 256 on Hopper, the float32 SIMT ones): the dq kernel
        assertEquals(DqMode.DQ_KERNEL, DqMode.of(false, false, false));
        assertEquals(DqMode.DQ_KERNEL, DqMode.of(true, false, false));
        assertTrue(DqMode.ATOMIC.throughAccumulator());
        assertTrue(DqMode.ORDERED.throughAccumulator());
        assertFalse(DqMode.DQ_KERNEL.throughAccumulator());
        // one counter per 64 query rows of each (batch, query head), the last slot partial
        assertEquals(2 * 3 * 2, DqMode.turnCounters(2, 3, 65));
        assertEquals(2 * 3, DqMode.turnCounters(2, 3, 64));
    }

    @Test
    void onlyTheOrderedModeStaggersItsStartsAndOnlyWhereAHeadsKeyTilesFitAtOnce() {
        assertTrue(DqMode.staggers(DqMode.ORDERED, true, 132, 132));
        // more key tiles than SMs: a CTA could wait for one that cannot start
        assertFalse(DqMode.staggers(DqMode.ORDERED, true, 133, 132));
        // under a band (or with sequences) the key tiles see different query tiles
        assertFalse(DqMode.staggers(DqMode.ORDERED, false, 8, 132));
        // the atomic mode measured level with them; the dq kernel walks no key tiles
        assertFalse(DqMode.staggers(DqMode.ATOMIC, true, 8, 132));
        assertFalse(DqMode.staggers(DqMode.DQ_KERNEL, true, 8, 132));
    }
}
