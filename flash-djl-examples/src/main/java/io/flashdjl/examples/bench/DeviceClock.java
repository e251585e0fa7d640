package io.flashdjl.examples.bench;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuInit;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/** Times one call: CUDA events on the GPU, {@code System.nanoTime} on the CPU. */
interface DeviceClock {

    /** Waits until the device is idle. */
    void sync();

    /** Marks the start of a timed call. */
    void start();

    /** Marks its end, waits for it, and returns the milliseconds between start and end. */
    double stopMs();

    /** The CPU clock: the calls are synchronous there. */
    final class Cpu implements DeviceClock {
        private long t0;

        @Override
        public void sync() {}

        @Override
        public void start() {
            t0 = System.nanoTime();
        }

        @Override
        public double stopMs() {
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    /**
     * CUDA events through JCuda's driver API, recorded on the null (legacy default) stream, with
     * which PyTorch's default stream and the CUDA backend's launches are ordered. PyTorch's primary
     * context of the GPU is made current (the one its runtime-API calls use). The start event is
     * recorded before the Java call begins, so host-side overhead (Java, JNI, launches) counts
     * whenever the GPU waits for it.
     */
    final class Gpu implements DeviceClock {
        private final CUcontext context = new CUcontext();
        private final CUevent begin = new CUevent();
        private final CUevent end = new CUevent();
        private final CUstream nullStream = new CUstream();
        final String name;
        final String capability;
        final int driverCudaVersion;

        Gpu(int deviceId) {
            JCudaDriver.setExceptionsEnabled(false);
            check(cuInit(0), "cuInit");
            CUdevice device = new CUdevice();
            check(cuDeviceGet(device, deviceId), "cuDeviceGet");
            check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
            check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            check(cuEventCreate(begin, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
            check(cuEventCreate(end, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
            byte[] buf = new byte[256];
            check(cuDeviceGetName(buf, buf.length, device), "cuDeviceGetName");
            int len = 0;
            while (len < buf.length && buf[len] != 0) {
                len++;
            }
            name = new String(buf, 0, len, StandardCharsets.US_ASCII);
            int[] major = new int[1];
            int[] minor = new int[1];
            check(
                    cuDeviceGetAttribute(
                            major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
                    "attr");
            check(
                    cuDeviceGetAttribute(
                            minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
                    "attr");
            capability = major[0] + "." + minor[0];
            int[] v = new int[1];
            check(cuDriverGetVersion(v), "cuDriverGetVersion");
            driverCudaVersion = v[0];
        }

        @Override
        public void sync() {
            check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            check(cuCtxSynchronize(), "cuCtxSynchronize");
        }

        @Override
        public void start() {
            check(cuEventRecord(begin, nullStream), "cuEventRecord");
        }

        @Override
        public double stopMs() {
            check(cuEventRecord(end, nullStream), "cuEventRecord");
            check(cuEventSynchronize(end), "cuEventSynchronize");
            float[] ms = new float[1];
            check(cuEventElapsedTime(ms, begin, end), "cuEventElapsedTime");
            return ms[0];
        }

        static void check(int result, String call) {
            if (result != CUresult.CUDA_SUCCESS) {
                throw new IllegalStateException(
                        String.format(Locale.ROOT, "%s failed: %s", call, CUresult.stringFor(result)));
            }
        }
    }
}
