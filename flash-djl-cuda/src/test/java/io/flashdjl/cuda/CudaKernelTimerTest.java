package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.flashdjl.AttentionMask;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Layout;
import io.flashdjl.testing.AttentionCase;
import io.flashdjl.testing.TestSeed;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@link KernelTimer} around real calls of the CUDA backend: it sees their launches, their GPU time is more
 * than nothing and fits inside the call's wall time (measured around it, up to the end of its last kernel),
 * and only the starting thread's launches count.
 */
@Tag("gpu")
@ExtendWith(TestSeed.class)
class CudaKernelTimerTest {

    private static final AttentionCase CASE = new AttentionCase(
            2, 8, 8, 1024, 1024, 64, 64, AttentionMask.CAUSAL_TOP_LEFT, Layout.BHSD, DataType.FLOAT16, Double.NaN);

    @BeforeAll
    static void gpu() {
        GpuTests.requireCuda();
    }

    @Test
    void aForwardsKernelTimeFitsInsideTheCall(SplittableRandom rng) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu());
                KernelTimer timer = new KernelTimer()) {
            NDArray[] in = CASE.randomInputs(m, rng);
            AttentionOptions opts = CASE.options(Backend.CUDA);
            // the first call loads the kernels; a timed run also leaves the GPU idle (stop() waits)
            timer.start();
            FlashAttention.forward(in[0], in[1], in[2], opts);
            int launches = timer.stop().launches();
            assertTrue(launches >= 1, "a forward launches a kernel: " + launches);
            for (int run = 0; run < 3; run++) { // the events are reused from run to run
                long t0 = System.nanoTime();
                timer.start();
                FlashAttention.forward(in[0], in[1], in[2], opts);
                KernelTimer.Timing t = timer.stop();
                double callMs = (System.nanoTime() - t0) / 1e6;
                assertEquals(launches, t.launches(), "the same call launches the same kernels");
                assertTrue(t.kernelMs() > 0, "kernel time " + t);
                assertTrue(t.kernelMs() <= callMs, t + " within the call's " + callMs + " ms");
            }
            assertNull(KernelTimer.ACTIVE.get());
        }
    }

    @Test
    void aBackwardIsTimedWithoutItsForward(SplittableRandom rng) {
        try (NDManager m = NDManager.newBaseManager(Device.gpu());
                KernelTimer timer = new KernelTimer()) {
            NDArray[] in = CASE.randomInputs(m, rng);
            AttentionOptions opts = CASE.options(Backend.CUDA);
            timer.start();
            AttentionResult r = FlashAttention.forward(in[0], in[1], in[2], opts);
            int forwardLaunches = timer.stop().launches();
            long t0 = System.nanoTime();
            timer.start();
            FlashAttention.backward(in[3], in[0], in[1], in[2], r, opts);
            KernelTimer.Timing t = timer.stop();
            double callMs = (System.nanoTime() - t0) / 1e6;
            assertTrue(forwardLaunches >= 1 && t.launches() >= 1, forwardLaunches + " forward launches, " + t);
            assertTrue(t.kernelMs() > 0 && t.kernelMs() <= callMs, t + " within the call's " + callMs + " ms");
        }
    }

    @Test
    void anotherThreadsLaunchesAreNotTimed(SplittableRandom rng) throws Exception {
        ExecutorService other = Executors.newSingleThreadExecutor();
        try (NDManager m = NDManager.newBaseManager(Device.gpu());
                KernelTimer timer = new KernelTimer()) {
            NDArray[] in = CASE.randomInputs(m, rng);
            AttentionOptions opts = CASE.options(Backend.CUDA);
            timer.start();
            other.submit(() -> FlashAttention.forward(in[0], in[1], in[2], opts)
                            .output()
                            .toType(DataType.FLOAT32, false)
                            .toFloatArray())
                    .get();
            assertEquals(new KernelTimer.Timing(0, 0), timer.stop());
        } finally {
            other.shutdownNow();
        }
    }
}
