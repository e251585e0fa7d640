package io.flashdjl.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flashdjl.AttentionOptions;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.FlashAttention;
import io.flashdjl.Precision;
import java.util.Arrays;
import java.util.Locale;
import jcuda.driver.CUevent;
import jcuda.driver.CUstream;

/**
 * Graph launches against single launches in one JVM, call by call in turns ({@link GraphLaunches#enable}), so that
 * the spread between JVMs does not enter the comparison. Two figures per call: from an idle GPU, the GPU time between
 * an event recorded before the Java call and one after it (what the latency grid measures); and the host time of a
 * call in a burst of back-to-back calls (what a host-bound training loop pays). A profiling tool run on the device
 * ({@code java -cp ... io.flashdjl.cuda.GraphLaunchProbe}), not a test: it asserts nothing.
 */
final class GraphLaunchProbe {

    private static final int ROUNDS = 300;
    private static final int BURST = 20;
    private static final int WARMUP = 3000;

    private interface Call {
        void run();
    }

    private GraphLaunchProbe() {}

    public static void main(String[] args) {
        CUevent start = new CUevent();
        CUevent end = new CUevent();
        CUstream nullStream = new CUstream();
        System.out.println("| data | N | direction | idle GPU us: graphs / single / difference | host us per call in a"
                + " burst: graphs / single / difference |");
        System.out.println("| --- | ---: | --- | --- | --- |");
        try (NDManager m = NDManager.newBaseManager(Device.gpu())) {
            for (boolean mixed : new boolean[] {false, true}) {
                for (long n : new long[] {128, 1024}) {
                    Shape shape = new Shape(1, 16, n, 64);
                    DataType type = mixed ? DataType.FLOAT32 : DataType.FLOAT16;
                    NDArray q = m.randomNormal(shape).toType(type, false);
                    NDArray k = m.randomNormal(shape).toType(type, false);
                    NDArray v = m.randomNormal(shape).toType(type, false);
                    NDArray dOut = m.randomNormal(shape).toType(type, false);
                    AttentionOptions opts = AttentionOptions.builder()
                            .optBackend(Backend.CUDA)
                            .optPrecision(mixed ? Precision.BFLOAT16 : Precision.FULL)
                            .build();
                    AttentionResult fwd = FlashAttention.forward(q, k, v, opts);
                    if (!mixed && n == 128) { // the first call made the backend's context current on this thread
                        check(cuEventCreate(start, 0));
                        check(cuEventCreate(end, 0));
                    }
                    Call forward = () -> FlashAttention.forward(q, k, v, opts).close();
                    Call backward = () ->
                            FlashAttention.backward(dOut, q, k, v, fwd, opts).close();
                    for (String dir : new String[] {"fwd", "bwd"}) {
                        Call c = dir.equals("fwd") ? forward : backward;
                        for (int i = 0; i < WARMUP; i++) {
                            GraphLaunches.enable(i % 2 == 0);
                            c.run();
                        }
                        double[][] idle = new double[2][ROUNDS];
                        double[][] host = new double[2][ROUNDS];
                        for (int r = 0; r < ROUNDS; r++) {
                            for (int t = 0; t < 2; t++) {
                                int mode = (r + t) % 2; // 0: graphs, 1: single launches; the order alternates
                                GraphLaunches.enable(mode == 0);
                                cuCtxSynchronize();
                                cuEventRecord(start, nullStream);
                                c.run();
                                cuEventRecord(end, nullStream);
                                cuCtxSynchronize();
                                float[] ms = new float[1];
                                cuEventElapsedTime(ms, start, end);
                                idle[mode][r] = ms[0] * 1000;
                                long t0 = System.nanoTime();
                                for (int i = 0; i < BURST; i++) {
                                    c.run();
                                }
                                host[mode][r] = (System.nanoTime() - t0) / 1e3 / BURST;
                                cuCtxSynchronize();
                            }
                        }
                        double ig = median(idle[0]), is = median(idle[1]), hg = median(host[0]), hs = median(host[1]);
                        System.out.printf(
                                Locale.ROOT,
                                "| %s | %d | %s | %.1f / %.1f / %+.1f | %.1f / %.1f / %+.1f |%n",
                                mixed ? "float32, BFLOAT16" : "float16",
                                n,
                                dir,
                                ig,
                                is,
                                ig - is,
                                hg,
                                hs,
                                hg - hs);
                    }
                    GraphLaunches.enable(true);
                }
            }
        }
    }

    private static void check(int r) {
        if (r != 0) {
            throw new IllegalStateException("cuEventCreate returned CUresult " + r);
        }
    }

    private static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
