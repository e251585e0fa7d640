package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import org.junit.jupiter.api.Test;
import io.flashdjl.testing.TestSeed;
import org.junit.jupiter.api.extension.ExtendWith;

/** What CI (no GPU) can check of the CUDA module: it is found, it says why it cannot run, AUTO falls back. */
@ExtendWith(TestSeed.class)
class CudaBackendCpuTest {

    @Test
    void cudaOnCpuArraysSaysWhy() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray q = m.randomNormal(new Shape(1, 2, 9, 32));
            AttentionOptions opts = AttentionOptions.builder().optBackend(Backend.CUDA).build();
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> FlashAttention.forward(q, q, q, opts));
            assertTrue(e.getMessage().startsWith("backend CUDA "), e.getMessage());
            // AUTO still runs, on the reference backend
            assertEquals(Backend.REFERENCE, FlashAttention.forward(q, q, q).backend());
        }
    }

    @Test
    void kernelHeadDimensionsRoundUp() {
        assertEquals(32, CudaBackend.kernelHeadDim(8));
        assertEquals(96, CudaBackend.kernelHeadDim(80));
        assertEquals(128, CudaBackend.kernelHeadDim(128));
        assertEquals(256, CudaBackend.kernelHeadDim(136));
    }

    @Test
    void parameterBlocksMatchTheStructSizes() {
        KernelParams.Strides s = new KernelParams.Strides(1, 2, 3);
        KernelParams.Dims d = new KernelParams.Dims(1, 2, 2, 3, 4, 64, 0.125f, 1);
        assertEquals(176, KernelParams.forward(1, 2, 3, 4, 5, s, s, s, s, d).length);
        assertEquals(320, KernelParams.backward(new long[11], new KernelParams.Strides[] {s, s, s, s, s, s, s, s}, d,
                true).length);
    }
}
