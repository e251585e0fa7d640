package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.util.cuda.CudaUtils;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * TMA from Java through the project's own launcher: a tensor map encoded by {@link TensorMaps} (JNA on the
 * driver's cuTensorMapEncodeTiled), packed into a parameter struct ({@link KernelParams#tmaCopy}) and launched by
 * {@link CudaKernels} like every kernel; the kernel's TMA loads copy a float16 matrix exactly, its partial boxes
 * (rows and columns not multiples of the 64 x 64 box) included. Needs sm_90 (Hopper).
 */
@Tag("gpu")
@ExtendWith(TestSeed.class)
class CudaTmaTest {

    @BeforeAll
    static void hopper() {
        GpuTests.requireCuda();
        assumeTrue(CudaUtils.getComputeCapability(0).equals("90"), "TMA needs sm_90");
    }

    @Test
    void aTensorMapFromJavaCopiesAMatrixExactly(SplittableRandom rng) {
        copiesExactly(rng, false);
    }

    /**
     * The same copy through a map with the 128-byte swizzle, the kernel reading each box back through the wgmma
     * kernels' own layout (sw128): exact only if TMA writes the layout those kernels' operands have, which the
     * producers' copies by TMA rely on.
     */
    @Test
    void aSwizzledBoxLandsInTheLayoutOfTheWgmmaOperands(SplittableRandom rng) {
        copiesExactly(rng, true);
    }

    private static void copiesExactly(SplittableRandom rng, boolean swizzled) {
        assertEquals(java.util.Optional.empty(), TensorMaps.unavailableReason(), "the driver encodes tensor maps");
        int rows = 300;
        int cols = 520; // a multiple of 8: the map's row stride must be a multiple of 16 bytes
        float[] values = new float[rows * cols];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) rng.nextGaussian();
        }
        try (NDManager manager = NDManager.newBaseManager(Device.gpu())) {
            NDArray src = manager.create(values, new Shape(rows, cols)).toType(DataType.FLOAT16, false);
            NDArray dst = manager.zeros(new Shape(rows, cols), DataType.FLOAT16);
            CudaKernels kernels = CudaRuntime.kernels(Device.gpu());
            byte[] map =
                    TensorMaps.encode2d(NDArrayMemory.address("src", src), false, rows, cols, cols, 64, 64, swizzled);
            byte[] params = KernelParams.tmaCopy(map, NDArrayMemory.address("dst", dst), cols, rows, cols, swizzled);
            kernels.launch(kernels.kernel("flash_tma_copy"), cols, (rows + 63) / 64, 1, params, "TMA copy");
            assertTrue(
                    src.eq(dst).all().getBoolean(),
                    "the TMA copy equals the source, bit for bit" + (swizzled ? " (128-byte swizzle)" : ""));
        }
    }
}
