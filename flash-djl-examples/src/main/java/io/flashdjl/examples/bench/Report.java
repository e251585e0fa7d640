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
            + "median_ms,min_ms,max_ms,tflops,peak_extra_mib,flops";

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
                    String.format(Locale.ROOT, "%.6g", c.flops(r.dir()))));
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
