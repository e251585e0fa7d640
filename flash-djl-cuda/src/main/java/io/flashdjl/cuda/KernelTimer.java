package io.flashdjl.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;

/**
 * Times the GPU work of flash-djl's own kernels. While a timer runs on a thread, each kernel that the CUDA
 * backend launches from that thread is bracketed by two CUDA events on the null stream (the stream of the
 * launches), and {@link #stop()} returns the number of launches and the sum of their elapsed times.
 *
 * <p>It exists to separate a call's host cost from its GPU work: per-call overhead = call time - kernel time,
 * where the call time is measured around the whole Java call (CUDA events before and after it, as the
 * benchmark does).
 *
 * <p>The timer perturbs what it measures slightly: two event records per launch on the host, and on an idle
 * GPU each start event completes before its kernel has been submitted, so a pair also counts the submission of
 * its launch (a few microseconds); queue GPU work before the call (the benchmark queues a matrix product) so
 * that the launches wait and each pair spans its kernel alone. Measure call times in separate calls without a
 * timer, and kernel times in calls with one. GPU work that is not one of flash-djl's launches (PyTorch's
 * allocations, copies of strided inputs) is not counted as kernel time.
 *
 * <pre>{@code
 * try (KernelTimer timer = new KernelTimer()) {
 *     timer.start();
 *     FlashAttention.forward(q, k, v, options);
 *     KernelTimer.Timing t = timer.stop(); // t.launches(), t.kernelMs()
 * }
 * }</pre>
 *
 * <p>A timer runs on the thread that started it and only sees that thread's launches; timers do not nest on
 * a thread. It can be started again after {@link #stop()} and reuses its events, created the first time a launch
 * needs them; {@link #close()} destroys them. Not thread-safe: one thread uses a timer at a time.
 */
public final class KernelTimer implements AutoCloseable {

    /**
     * The timer running on each thread. {@link CudaKernels#launch} reads it once per launch, so an inactive
     * timer costs one {@code ThreadLocal} read.
     */
    static final ThreadLocal<KernelTimer> ACTIVE = new ThreadLocal<>();

    /** The legacy default stream, where {@link CudaKernels} launches. */
    private static final CUstream NULL_STREAM = new CUstream();

    /**
     * What one run of a timer measured.
     *
     * @param launches the kernel launches between {@link #start()} and {@link #stop()}
     * @param kernelMs the sum of their GPU times, in milliseconds
     */
    public record Timing(int launches, double kernelMs) {}

    /**
     * The events of one GPU (its context): launch {@code i} of a run uses events {@code 2i} (start) and
     * {@code 2i + 1} (end); they are kept from one run to the next.
     */
    private static final class Events {
        final List<CUevent> events = new ArrayList<>();
        int launches;
    }

    /** By the GPU's kernels; events can only be recorded on a stream of the context they were created in. */
    private final Map<CudaKernels, Events> byGpu = new LinkedHashMap<>();

    private Thread owner;
    private boolean closed;

    /** A stopped timer; it holds no CUDA resources until a launch is timed. */
    public KernelTimer() {}

    /**
     * Starts timing the launches made on the calling thread.
     *
     * @throws IllegalStateException if this timer is closed or running, or another timer runs on this thread
     */
    public void start() {
        if (closed) {
            throw new IllegalStateException("this KernelTimer is closed");
        }
        if (owner != null) {
            throw new IllegalStateException(
                    "this KernelTimer is already running (on thread " + owner.getName() + "): stop it first");
        }
        if (ACTIVE.get() != null) {
            throw new IllegalStateException(
                    "another KernelTimer is running on this thread: timers do not nest, stop that one first");
        }
        for (Events e : byGpu.values()) {
            e.launches = 0;
        }
        owner = Thread.currentThread();
        ACTIVE.set(this);
    }

    /**
     * Stops timing, waits for the last timed kernel to finish and returns what ran since {@link #start()}.
     *
     * @return the number of launches and the sum of their GPU times
     * @throws IllegalStateException if this timer is not running, or runs on another thread
     * @throws CudaException if a CUDA event call fails (after a kernel fault, for instance)
     */
    public Timing stop() {
        requireRunningHere("stop()");
        deactivate();
        int launches = 0;
        double ms = 0;
        float[] pair = new float[1];
        for (Events e : byGpu.values()) {
            if (e.launches == 0) {
                continue;
            }
            launches += e.launches;
            // the null stream runs in order: once the last end event completed, every pair did
            check(cuEventSynchronize(e.events.get(2 * e.launches - 1)), "cuEventSynchronize");
            for (int i = 0; i < e.launches; i++) {
                check(cuEventElapsedTime(pair, e.events.get(2 * i), e.events.get(2 * i + 1)), "cuEventElapsedTime");
                ms += pair[0];
            }
        }
        return new Timing(launches, ms);
    }

    /**
     * Whether this timer runs (was started and not yet stopped).
     *
     * @return true between {@link #start()} and {@link #stop()} or {@link #close()}
     */
    public boolean isRunning() {
        return owner != null;
    }

    /**
     * Stops this timer if it runs, discarding what it measured, and destroys its events. Closing twice does
     * nothing.
     *
     * @throws IllegalStateException if it runs on another thread (that thread would keep it active)
     * @throws CudaException if destroying an event fails; the others are destroyed all the same
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (owner != null) {
            requireRunningHere("close()");
            deactivate();
        }
        closed = true;
        int failed = CUresult.CUDA_SUCCESS;
        for (Events e : byGpu.values()) {
            for (CUevent event : e.events) {
                int r = cuEventDestroy(event);
                failed = failed == CUresult.CUDA_SUCCESS ? r : failed;
            }
        }
        byGpu.clear();
        check(failed, "cuEventDestroy");
    }

    /**
     * Records the start event of a launch on {@code kernels}' GPU. {@link CudaKernels} made its context current,
     * so this is where the events are created, both of the pair before either is recorded (no creation between
     * the launch and its end event).
     */
    void beforeLaunch(CudaKernels kernels) {
        Events e = byGpu.computeIfAbsent(kernels, k -> new Events());
        while (e.events.size() < 2 * e.launches + 2) {
            CUevent event = new CUevent();
            check(cuEventCreate(event, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
            e.events.add(event);
        }
        check(cuEventRecord(e.events.get(2 * e.launches), NULL_STREAM), "cuEventRecord (before a launch)");
    }

    /** Records the end event of the launch that {@link #beforeLaunch} began, which went to the GPU. */
    void afterLaunch(CudaKernels kernels) {
        Events e = byGpu.get(kernels);
        check(cuEventRecord(e.events.get(2 * e.launches + 1), NULL_STREAM), "cuEventRecord (after a launch)");
        e.launches++;
    }

    private void requireRunningHere(String call) {
        if (owner == null) {
            throw new IllegalStateException(
                    closed ? "this KernelTimer is closed" : call + " of a KernelTimer that is not running: start() it");
        }
        if (owner != Thread.currentThread()) {
            throw new IllegalStateException(call + " of a KernelTimer from thread "
                    + Thread.currentThread().getName() + ", but it runs on thread " + owner.getName() + ": " + call
                    + " it there");
        }
    }

    private void deactivate() {
        ACTIVE.remove();
        owner = null;
    }

    private static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new CudaException(null, "a KernelTimer", call, result);
        }
    }
}
