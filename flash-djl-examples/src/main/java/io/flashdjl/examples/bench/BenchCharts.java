package io.flashdjl.examples.bench;

import io.flashdjl.examples.chart.Charts;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** The benchmark's PNG charts: a measure against the sequence length, one line per implementation. */
final class BenchCharts {

    private BenchCharts() {}

    /**
     * Charts: one per (grid series, direction) with at least two sequence lengths; adds each file's
     * name and title to {@code charts} as it is written. The latency charts also draw the kernel time of
     * the implementations whose kernels were timed ("cuda kernels").
     */
    static void write(Path dir, List<Result> results, List<Path> written, Map<String, String> charts)
            throws IOException {
        Map<String, List<Result>> groups = new LinkedHashMap<>();
        for (Result r : results) {
            if (r.ok() && r.c().nq() == r.c().nk()) {
                groups.computeIfAbsent(r.c().series() + "|" + r.dir().label, k -> new ArrayList<>())
                        .add(r);
            }
        }
        for (List<Result> g : groups.values()) {
            Set<Integer> ns = new LinkedHashSet<>();
            g.forEach(r -> ns.add(r.c().nq()));
            if (ns.size() < 2) {
                continue;
            }
            Result first = g.get(0);
            String grid = first.c().grid();
            List<String> metrics = new ArrayList<>();
            if (grid.equals("latency")) {
                metrics.add("time");
            } else {
                metrics.add("tflops");
            }
            if (grid.equals("memory") && first.peakBytes() >= 0) {
                metrics.add(0, "memory");
            }
            for (String metric : metrics) {
                String yLabel = metric.equals("time")
                        ? "median time per call (us)"
                        : metric.equals("memory") ? "peak extra memory (MiB)" : "TFLOP/s";
                String title = first.c().series().replace("Hq:Hkv=", "H ").replace("!=", " != ") + ": "
                        + first.dir().label
                        + (metric.equals("memory") ? " memory" : metric.equals("time") ? " latency" : "");
                XYSeriesCollection data = new XYSeriesCollection();
                Map<String, XYSeries> byImpl = new LinkedHashMap<>();
                for (Result r : g) {
                    double y = metric.equals("time")
                            ? r.medianMs() * 1000
                            : metric.equals("memory") ? r.peakBytes() / 1048576.0 : r.tflops();
                    byImpl.computeIfAbsent(r.impl(), XYSeries::new).add(r.c().nq(), y);
                    if (metric.equals("time") && r.kernelTimed()) {
                        // beside the call: the gap between the two lines is the per-call overhead
                        byImpl.computeIfAbsent(r.impl() + " kernels", XYSeries::new)
                                .add(r.c().nq(), r.kernelMs() * 1000);
                    }
                }
                byImpl.values().forEach(data::addSeries);
                String file = (first.c().series() + "-" + first.dir().label + "-" + metric)
                                .toLowerCase(Locale.ROOT)
                                .replace("+", "-")
                                .replace("!=", "ne")
                                .replaceAll("[^a-z0-9]+", "-")
                        + ".png";
                Charts.writePng(
                        Charts.chart(
                                title,
                                Charts.linePlot(
                                        data,
                                        Charts.log2("sequence length N", Grids::size),
                                        Charts.linearFromZero(yLabel))),
                        dir.resolve(file));
                written.add(dir.resolve(file));
                charts.put(file, title);
            }
        }
    }
}
