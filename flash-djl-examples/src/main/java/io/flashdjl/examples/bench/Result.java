package io.flashdjl.examples.bench;

/**
 * One measurement: a case, an implementation, a direction.
 *
 * @param status "ok", "OOM", or "unsupported: ...", "unavailable: ...", "skipped: ...", "error: ..."
 * @param peakBytes peak device memory above what was in use when the call began, or -1 if not measured
 * @param kernelMs median GPU time of flash-djl's own kernels in one call ({@code KernelTimer}, in as many calls
 *     again), or NaN where not measured (other implementations, CPU runs)
 */
record Result(
        BenchCase c,
        String impl,
        Direction dir,
        String status,
        int inputSets,
        int repeats,
        double medianMs,
        double minMs,
        double maxMs,
        long peakBytes,
        double kernelMs) {

    static Result notRun(BenchCase c, String impl, Direction dir, String status) {
        return new Result(c, impl, dir, firstLine(status), 0, 0, Double.NaN, Double.NaN, Double.NaN, -1, Double.NaN);
    }

    /** The line of an error message that says what went wrong, at most 300 characters. */
    static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        String line = s.strip().split("\n", 2)[0];
        // libtorch's TorchScript errors start with a generic line; the cause follows "RuntimeError:"
        int at = s.lastIndexOf("Error: ");
        if (line.startsWith("The following operation failed") && at >= 0) {
            line = s.substring(at + 7).strip().split("\n", 2)[0];
        }
        return line.length() > 300 ? line.substring(0, 300) + "..." : line;
    }

    boolean ok() {
        return status.equals("ok");
    }

    /** TFLOP/s at the median time, by the papers' FLOP count. */
    double tflops() {
        return ok() ? c.flops(dir) / (medianMs * 1e-3) / 1e12 : Double.NaN;
    }

    /** Whether the kernel time was measured. */
    boolean kernelTimed() {
        return ok() && !Double.isNaN(kernelMs);
    }

    /**
     * What a call adds over its kernels, in microseconds: median call time - median kernel time (of separate
     * calls, so noise can make it slightly negative); NaN where the kernel time was not measured.
     */
    double overheadUs() {
        return kernelTimed() ? (medianMs - kernelMs) * 1000 : Double.NaN;
    }

    /** The status's first word, for tables: ok, OOM, unsupported, unavailable, skipped, error. */
    String shortStatus() {
        int i = status.indexOf(':');
        return i < 0 ? status : status.substring(0, i);
    }
}
