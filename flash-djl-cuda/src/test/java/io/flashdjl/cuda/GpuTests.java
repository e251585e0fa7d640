package io.flashdjl.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.engine.Engine;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;

/** Shared guard of the gpu-tagged tests: they skip, with the reason, where CUDA cannot run. */
final class GpuTests {

    private GpuTests() {}

    /** Skips the calling test unless DJL sees a GPU and the CUDA backend is usable. */
    static void requireCuda() {
        assumeTrue(Engine.getInstance().getGpuCount() > 0, "DJL's engine sees no GPU");
        String why = FlashAttention.unavailableReason(Backend.CUDA).orElse(null);
        assumeTrue(why == null, () -> "CUDA backend unavailable: " + why);
    }
}
