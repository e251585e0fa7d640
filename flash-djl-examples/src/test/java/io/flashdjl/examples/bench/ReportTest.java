package io.flashdjl.examples.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The kernel-time columns of results.csv and report.md, from made-up results (no GPU): the CSV's {@code
 * kernel_ms}, the call | kernel | overhead table of the implementations whose kernels were timed, and the
 * latency grid's bar.
 */
class ReportTest {

    private static final BenchCase N128 = new BenchCase("latency", 1, 16, 16, 128, 128, 64, false);
    private static final BenchCase N256 = new BenchCase("latency", 1, 16, 16, 256, 256, 64, true);

    private static Result ok(BenchCase c, String impl, Direction dir, double medianMs, double kernelMs) {
        return new Result(c, impl, dir, "ok", 2, 20, medianMs, medianMs * 0.9, medianMs * 1.2, -1, kernelMs);
    }

    private static List<Impl> impls() {
        Map<String, Impl> all = Impl.all();
        return List.of(all.get("cuda"), all.get("sdpa-flash"));
    }

    private static String markdown(List<Result> results, String... grids) {
        return Report.markdown(new RunInfo(true, false), List.of(grids), impls(), results, Map.of());
    }

    @Test
    void overheadIsCallMinusKernelInMicroseconds() {
        Result r = ok(N128, "cuda", Direction.FWD, 0.0300, 0.0215);
        assertTrue(r.kernelTimed());
        assertEquals(8.5, r.overheadUs(), 1e-9);
        Result untimed = ok(N128, "sdpa-flash", Direction.FWD, 0.03, Double.NaN);
        assertFalse(untimed.kernelTimed());
        assertTrue(Double.isNaN(untimed.overheadUs()));
        Result failed = Result.notRun(N128, "cuda", Direction.FWD, "OOM");
        assertFalse(failed.kernelTimed());
        assertTrue(Double.isNaN(failed.kernelMs()));
    }

    @Test
    void csvHasTheKernelTimeLastAndEmptyWhereNotMeasured() {
        String[] lines = Report.csv(List.of(
                        ok(N128, "cuda", Direction.FWD, 0.03, 0.0215),
                        ok(N128, "sdpa-flash", Direction.FWD, 0.03, Double.NaN),
                        Result.notRun(N128, "cuda", Direction.BWD, "error: boom, twice")))
                .split("\n");
        assertEquals(Report.CSV_HEADER, lines[0]);
        assertTrue(Report.CSV_HEADER.endsWith(",flops,kernel_ms"), "the new column comes last: " + lines[0]);
        int columns = Report.CSV_HEADER.split(",").length;
        assertEquals(columns, lines[1].split(",", -1).length, lines[1]);
        assertTrue(lines[1].startsWith("latency,1,16,16,128,128,64,false,cuda,fwd,ok,2,20,0.0300,"), lines[1]);
        assertTrue(lines[1].endsWith(",0.0215"), lines[1]);
        assertEquals(columns, lines[2].split(",", -1).length, lines[2]);
        assertTrue(lines[2].endsWith(","), "sdpa-flash has no kernel time: " + lines[2]);
        assertTrue(lines[3].contains("\"error: boom, twice\"") && lines[3].endsWith(","), lines[3]);
    }

    @Test
    void latencyGridShowsCallKernelOverheadAndTheBarMet() {
        List<Result> results = new ArrayList<>();
        results.add(ok(N128, "cuda", Direction.FWD, 0.0300, 0.0215));
        results.add(ok(N128, "sdpa-flash", Direction.FWD, 0.0250, Double.NaN));
        results.add(ok(N256, "cuda", Direction.FWD_BWD, 0.1000, 0.0940));
        results.add(Result.notRun(N256, "cuda", Direction.BWD, "error: x"));
        String md = markdown(results, "latency");
        assertTrue(md.contains("### `cuda`: per-call overhead over its kernels"), md);
        assertFalse(md.contains("`sdpa-flash`: per-call overhead"), "sdpa-flash's kernels were not timed");
        assertTrue(md.contains("| shape | direction | call ms | kernel ms | overhead us (= call - kernel) |"), md);
        assertTrue(md.contains("| B=1 H=16 N=128 d=64 | fwd | 0.0300 | 0.0215 | 8.5 |"), md);
        assertTrue(md.contains("| B=1 H=16 N=256 d=64 causal | fwd+bwd | 0.1000 | 0.0940 | 6.0 |"), md);
        assertTrue(
                md.contains("Bar: each call adds at most 10 us over the kernel time. `cuda`: worst overhead 8.5 us"
                        + " (B=1 H=16 N=128 d=64, fwd), of 2 measurements: **met**."),
                md);
        // the existing tables are still there
        assertTrue(md.contains("### fwd: TFLOP/s (median ms, min-max)"), md);
        assertTrue(md.contains("### Not run"), md);
    }

    @Test
    void theBarIsMissedAboveTenMicroseconds() {
        String md = markdown(
                List.of(
                        ok(N128, "cuda", Direction.FWD, 0.0300, 0.0215),
                        ok(N128, "cuda", Direction.BWD, 0.0600, 0.0450)),
                "latency");
        assertTrue(md.contains("| B=1 H=16 N=128 d=64 | bwd | 0.0600 | 0.0450 | 15.0 |"), md);
        assertTrue(
                md.contains("worst overhead 15.0 us (B=1 H=16 N=128 d=64, bwd), of 2 measurements: **missed**."), md);
    }

    @Test
    void otherGridsShowTheLargestOverheadWithoutTheBar() {
        BenchCase big = new BenchCase("fa3", 1, 16, 16, 16384, 16384, 128, false);
        String md = markdown(List.of(ok(big, "cuda", Direction.FWD, 20.0, 19.98)), "fa3");
        assertTrue(md.contains("### `cuda`: per-call overhead over its kernels"), md);
        assertTrue(md.contains("Largest overhead in this grid: 20.0 us (B=1 H=16 N=16k d=128, fwd)."), md);
        assertFalse(md.contains("Bar:"), md);
    }

    @Test
    void noKernelTimesNoOverheadSection() {
        String md = markdown(List.of(ok(N128, "cuda", Direction.FWD, 0.03, Double.NaN)), "latency");
        assertFalse(md.contains("per-call overhead"), md);
        assertFalse(md.contains("Bar:"), md);
    }

    @Test
    void medianOfOddAndEvenCounts() {
        assertEquals(2, AttentionBenchmark.Runner.median(new double[] {3, 1, 2}));
        assertEquals(2.5, AttentionBenchmark.Runner.median(new double[] {4, 1, 3, 2}));
    }
}
