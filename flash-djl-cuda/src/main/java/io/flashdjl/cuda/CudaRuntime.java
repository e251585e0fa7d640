package io.flashdjl.cuda;

import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuInit;

import ai.djl.Device;
import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Whether the CUDA backend can run on this machine, found once: the kernels were compiled into
 * this jar, JCuda's native library and the CUDA driver load, and there is a GPU.
 */
final class CudaRuntime {

    /** Where the Maven build puts the nvcc output (see flash-djl-cuda/pom.xml). */
    static final String FATBIN_RESOURCE = "/io/flashdjl/cuda/flash_attention.fatbin";

    private static final class State {
        final byte[] fatbin;
        final String unavailable;

        State(byte[] fatbin, String unavailable) {
            this.fatbin = fatbin;
            this.unavailable = unavailable;
        }
    }

    private static volatile State state;

    private CudaRuntime() {}

    static Optional<String> unavailableReason() {
        return Optional.ofNullable(state().unavailable);
    }

    /** The kernels of the GPU holding the arrays. */
    static CudaKernels kernels(Device device) {
        State s = state();
        if (s.unavailable != null) {
            throw new UnsupportedOperationException("backend CUDA is not available: " + s.unavailable);
        }
        return CudaKernels.forDevice(device.getDeviceId(), s.fatbin);
    }

    private static State state() {
        State s = state;
        if (s == null) {
            synchronized (CudaRuntime.class) {
                s = state;
                if (s == null) {
                    s = probe();
                    state = s;
                }
            }
        }
        return s;
    }

    private static State probe() {
        byte[] fatbin;
        try (InputStream in = CudaRuntime.class.getResourceAsStream(FATBIN_RESOURCE)) {
            if (in == null) {
                return new State(null, "flash-djl-cuda was built without kernels (nvcc was not found at build time)");
            }
            fatbin = in.readAllBytes();
        } catch (IOException e) {
            return new State(null, "cannot read the kernels " + FATBIN_RESOURCE + ": " + e);
        }
        String memory = NDArrayMemory.unavailableReason();
        if (memory != null) {
            return new State(null, memory);
        }
        try {
            JCudaDriver.setExceptionsEnabled(false);
            int r = cuInit(0);
            if (r != CUresult.CUDA_SUCCESS) {
                return new State(null, "the CUDA driver did not initialise: " + CUresult.stringFor(r));
            }
            int[] count = new int[1];
            r = cuDeviceGetCount(count);
            if (r != CUresult.CUDA_SUCCESS || count[0] == 0) {
                return new State(null, "no CUDA GPU is visible");
            }
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            return new State(
                    null,
                    "the CUDA driver or JCuda's native library did not load ("
                            + OneLine.of(String.valueOf(e.getMessage())) + ")");
        }
        return new State(fatbin, null);
    }
}
