package io.flashdjl.examples.bench;

import io.flashdjl.examples.chart.ChartAttempt;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** Writes report.md, results.csv and the PNG charts. */
final class Report {

    private Report() {}

    /** Writes the files; a chart that cannot be drawn is reported on {@code log} and left out of report.md. */
    static List<Path> write(
            Path dir, RunInfo info, List<String> grids, List<Impl> impls, List<Result> results, PrintStream log)
            throws IOException {
        Files.createDirectories(dir);
        List<Path> written = new ArrayList<>();
        written.add(Files.writeString(dir.resolve("results.csv"), csv(results), StandardCharsets.UTF_8));
        Map<String, String> charts = new LinkedHashMap<>();
        ChartAttempt.run("charts", () -> BenchCharts.write(dir, results, written, charts), log);
        written.add(Files.writeString(
                dir.resolve("report.md"), markdown(info, grids, impls, results, charts), StandardCharsets.UTF_8));
        return written;
    }

    static final String CSV_HEADER = "grid,b,hq,hkv,nq,nk,d,causal,impl,direction,status,input_sets,repeats,"
            + "median_ms,min_ms,max_ms,tflops,peak_extra_mib,flops,kernel_ms";

    /** The bar on the latency grid: each call adds at most this much over its kernels' time. */
    static final double OVERHEAD_BAR_US = 10;

    static String csv(List<Result> results) {
        StringBuilder s = new StringBuilder(CSV_HEADER).append('\n');
        for (Result r : results) {
            BenchCase c = r.c();
            s.append(String.join(
                    ",",
                    c.grid(),
                    i(c.b()),
                    i(c.hq()),
                    i(c.hkv()),
                    i(c.nq()),
                    i(c.nk()),
                    i(c.d()),
                    Boolean.toString(c.causal()),
                    r.impl(),
                    r.dir().label,
                    quote(r.status()),
                    i(r.inputSets()),
                    i(r.repeats()),
                    num(r.medianMs(), "%.4f"),
                    num(r.minMs(), "%.4f"),
                    num(r.maxMs(), "%.4f"),
                    num(r.tflops(), "%.3f"),
                    r.peakBytes() >= 0 ? num(r.peakBytes() / 1048576.0, "%.2f") : "",
                    String.format(Locale.ROOT, "%.6g", c.flops(r.dir())),
                    num(r.kernelTimed() ? r.kernelMs() : Double.NaN, "%.4f")));
            s.append('\n');
        }
        return s.toString();
    }

    private static String i(int v) {
        return Integer.toString(v);
    }

    private static String num(double v, String fmt) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, fmt, v);
    }

    private static String quote(String s) {
        return s.contains(",") || s.contains("\"") || s.contains("\n")
                ? "\"" + s.replace("\"", "\"\"").replace("\n", " ") + "\""
                : s;
    }

    static String markdown(
            RunInfo info, List<String> grids, List<Impl> impls, List<Result> results, Map<String, String> charts) {
        StringBuilder s = new StringBuilder("# flash-djl attention benchmark\n\n");
        s.append("| | |\n| --- | --- |\n");
        for (Map.Entry<String, String> f : info.facts.entrySet()) {
            String v = f.getKey().equals("command") ? "`" + f.getValue() + "`" : f.getValue();
            s.append("| ")
                    .append(f.getKey())
                    .append(" | ")
                    .append(v.replace("|", "\\|"))
                    .append(" |\n");
        }
        s.append(String.format(Locale.ROOT, "| wall time | %.1f s |%n%n", info.seconds));
        s.append("## What ran\n\n");
        for (Impl impl : impls) {
            s.append("- `").append(impl.name).append("`: ").append(impl.code).append('\n');
        }
        s.append("\nEvery row of `results.csv` names its implementation, direction and status: `ok`, `OOM`, or"
                + " `unsupported`/`unavailable`/`skipped`/`error` with the reason. After an OOM an implementation's"
                + " larger sizes in the same sweep are skipped.\n");
        for (String grid : grids) {
            List<Result> rows = new ArrayList<>();
            for (Result r : results) {
                if (r.c().grid().equals(grid)) {
                    rows.add(r);
                }
            }
            s.append("\n## Grid `")
                    .append(grid)
                    .append("`: ")
                    .append(Grids.describe(grid))
                    .append("\n");
            for (Direction dir : Direction.values()) {
                s.append("\n### ").append(dir.label).append(": TFLOP/s (median ms, min-max)\n\n");
                table(s, rows, impls, dir, false);
            }
            if (info.memoryMeasured) {
                s.append("\n### Peak extra device memory per call, MiB (fwd / bwd / fwd+bwd)\n\n");
                table(s, rows, impls, null, true);
            }
            overhead(s, grid, rows, impls);
            Map<String, Set<String>> reasons = new LinkedHashMap<>();
            for (Result r : rows) {
                if (!r.ok()) {
                    reasons.computeIfAbsent(
                                    "`" + r.impl() + "` " + r.dir().label + ": " + r.status(),
                                    k -> new LinkedHashSet<>())
                            .add(shape(r.c()));
                }
            }
            if (!reasons.isEmpty()) {
                s.append("\n### Not run\n\n");
                for (Map.Entry<String, Set<String>> e : reasons.entrySet()) {
                    s.append("- ")
                            .append(e.getKey().replace("|", "\\|"))
                            .append(" (")
                            .append(String.join("; ", e.getValue()))
                            .append(")\n");
                }
            }
            for (Map.Entry<String, String> c : charts.entrySet()) {
                if (c.getKey().startsWith(grid + "-")) {
                    s.append("\n![")
                            .append(c.getValue())
                            .append("](")
                            .append(c.getKey())
                            .append(")\n");
                }
            }
        }
        s.append("\nAll rows: `results.csv`.\n");
        return s.toString();
    }

    /**
     * For each implementation whose kernels were timed: call ms | kernel ms | overhead us per shape and
     * direction, and the largest overhead; on the latency grid, against the bar.
     */
    static void overhead(StringBuilder s, String grid, List<Result> rows, List<Impl> impls) {
        for (Impl impl : impls) {
            List<Result> timed = new ArrayList<>();
            for (Result r : rows) {
                if (r.impl().equals(impl.name) && r.kernelTimed()) {
                    timed.add(r);
                }
            }
            if (timed.isEmpty()) {
                continue;
            }
            s.append("\n### `")
                    .append(impl.name)
                    .append("`: per-call overhead over its kernels\n\n")
                    .append("call ms: median of the timed calls; kernel ms: median GPU time of flash-djl's own kernels")
                    .append(" in as many further calls (KernelTimer); overhead us = call - kernel.\n\n")
                    .append("| shape | direction | call ms | kernel ms | overhead us (= call - kernel) |\n")
                    .append("| --- | --- | ---: | ---: | ---: |\n");
            Result worst = timed.get(0);
            for (Result r : timed) {
                s.append(String.format(
                        Locale.ROOT,
                        "| %s | %s | %.4f | %.4f | %.1f |\n",
                        shape(r.c()),
                        r.dir().label,
                        r.medianMs(),
                        r.kernelMs(),
                        r.overheadUs()));
                worst = r.overheadUs() > worst.overheadUs() ? r : worst;
            }
            String at = String.format(
                    Locale.ROOT, "%.1f us (%s, %s)", worst.overheadUs(), shape(worst.c()), worst.dir().label);
            if (grid.equals("latency")) {
                s.append(String.format(
                        Locale.ROOT,
                        "\nBar: each call adds at most %.0f us over the kernel time. `%s`: worst overhead %s,"
                                + " of %d measurements: **%s**.\n",
                        OVERHEAD_BAR_US,
                        impl.name,
                        at,
                        timed.size(),
                        worst.overheadUs() <= OVERHEAD_BAR_US ? "met" : "missed"));
            } else {
                s.append("\nLargest overhead in this grid: ").append(at).append(".\n");
            }
        }
    }

    private static String shape(BenchCase c) {
        return String.format(
                Locale.ROOT,
                "B=%d H=%d%s N=%s%s d=%d%s",
                c.b(),
                c.hq(),
                c.hq() == c.hkv() ? "" : "/" + c.hkv(),
                Grids.size(c.nq()),
                c.nq() == c.nk() ? "" : "/" + Grids.size(c.nk()),
                c.d(),
                c.causal() ? " causal" : "");
    }

    private static void table(StringBuilder s, List<Result> rows, List<Impl> impls, Direction dir, boolean memory) {
        s.append("| shape |");
        for (Impl impl : impls) {
            s.append(' ').append(impl.name).append(" |");
        }
        s.append("\n| --- |");
        s.append(" ---: |".repeat(impls.size()));
        s.append('\n');
        Map<BenchCase, Map<String, Map<Direction, Result>>> byCase = new LinkedHashMap<>();
        for (Result r : rows) {
            byCase.computeIfAbsent(r.c(), k -> new LinkedHashMap<>())
                    .computeIfAbsent(r.impl(), k -> new LinkedHashMap<>())
                    .put(r.dir(), r);
        }
        for (Map.Entry<BenchCase, Map<String, Map<Direction, Result>>> e : byCase.entrySet()) {
            s.append("| ").append(shape(e.getKey())).append(" |");
            for (Impl impl : impls) {
                Map<Direction, Result> m = e.getValue().getOrDefault(impl.name, Map.of());
                s.append(' ');
                if (memory) {
                    List<String> parts = new ArrayList<>();
                    for (Direction d : Direction.values()) {
                        Result r = m.get(d);
                        parts.add(
                                r == null
                                        ? ""
                                        : r.ok() && r.peakBytes() >= 0
                                                ? String.format(Locale.ROOT, "%.0f", r.peakBytes() / 1048576.0)
                                                : r.shortStatus());
                    }
                    s.append(String.join(" / ", parts));
                } else {
                    Result r = m.get(dir);
                    if (r != null) {
                        s.append(
                                r.ok()
                                        ? String.format(
                                                Locale.ROOT,
                                                "%s (%s, %s-%s)",
                                                tflops(r.tflops()),
                                                ms(r.medianMs()),
                                                ms(r.minMs()),
                                                ms(r.maxMs()))
                                        : r.shortStatus());
                    }
                }
                s.append(" |");
            }
            s.append('\n');
        }
    }

    private static String tflops(double v) {
        return String.format(Locale.ROOT, v >= 10 ? "%.1f" : v >= 1 ? "%.2f" : "%.2g", v);
    }

    private static String ms(double v) {
        return String.format(Locale.ROOT, v < 1 ? "%.3f" : v < 100 ? "%.2f" : "%.0f", v);
    }
}
