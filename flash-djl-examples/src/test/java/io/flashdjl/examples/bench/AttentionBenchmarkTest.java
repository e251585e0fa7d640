package io.flashdjl.examples.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flashdjl.examples.chart.ChartsTest;
import io.flashdjl.testing.TestSeed;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The benchmark's CPU smoke run inside {@code mvn verify}: it runs the main program on the
 * cpu-smoke grid and checks that the report, the CSV and the charts are there and well-formed.
 * Timings are never asserted. The inputs come from DJL's engine, which {@link TestSeed} seeds.
 */
@ExtendWith(TestSeed.class)
class AttentionBenchmarkTest {

    @Test
    void cpuSmokeWritesReportCsvAndCharts(@TempDir Path dir) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AttentionBenchmark.run(
                new String[] {"--grid", "cpu-smoke", "--device", "cpu", "--repeats", "2", "--out", dir.toString()},
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, code, err.toString(StandardCharsets.UTF_8));

        String report = Files.readString(dir.resolve("report.md"));
        for (String s : new String[] {
            "# flash-djl attention benchmark",
            "| command |",
            "AttentionBenchmark",
            "| torch |",
            "| DJL |",
            "| JVM |",
            "| date |",
            "4*B*Hq*Nq*Nk*d",
            "| kernel time | not measured: CPU run",
            "## Grid `cpu-smoke`",
            "### fwd+bwd"
        }) {
            assertTrue(report.contains(s), "report.md lacks " + s);
        }

        List<String> lines = Files.readAllLines(dir.resolve("results.csv"));
        assertEquals(Report.CSV_HEADER, lines.get(0));
        int columns = Report.CSV_HEADER.split(",").length;
        List<List<String>> rows = new ArrayList<>();
        for (String line : lines.subList(1, lines.size())) {
            List<String> row = csvRow(line);
            assertEquals(columns, row.size(), line);
            rows.add(row);
        }
        int impls = Impl.all().size();
        assertEquals(Grids.of("cpu-smoke").size() * impls * Direction.values().length, rows.size());
        Set<String> ran = new HashSet<>();
        for (List<String> row : rows) {
            String status = row.get(10);
            assertFalse(status.startsWith("error"), "a benchmark row failed: " + row);
            if (status.equals("ok")) {
                ran.add(row.get(8));
                assertFalse(row.get(13).isEmpty(), "an ok row needs its median time: " + row);
            }
            assertEquals("", row.get(columns - 1), "no kernel time on a CPU: " + row);
        }
        // every implementation that runs on a CPU produced timings in every direction
        assertEquals(Set.of("reference", "sdpa", "sdpa-auto", "sdpa-math", "naive"), ran);

        List<Path> pngs;
        try (Stream<Path> files = Files.list(dir)) {
            pngs = files.filter(p -> p.toString().endsWith(".png")).sorted().collect(Collectors.toList());
        }
        assertFalse(pngs.isEmpty(), "no charts");
        assertFalse(report.contains("per-call overhead"), "no kernels were timed on a CPU");
        for (Path png : pngs) {
            assertTrue(report.contains("(" + png.getFileName() + ")"), "report.md does not show " + png.getFileName());
            ChartsTest.assertDrawnPng(png);
        }
    }

    @Test
    void bfloat16PrecisionRunsSdpaInBfloat16OnFloat32Data(@TempDir Path dir) throws IOException {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AttentionBenchmark.run(
                new String[] {
                    "--grid",
                    "cpu-smoke",
                    "--backends",
                    "sdpa,sdpa-auto,naive",
                    "--dtype",
                    "float32",
                    "--precision",
                    "bfloat16",
                    "--repeats",
                    "1",
                    "--warmup",
                    "1",
                    "--device",
                    "cpu",
                    "--out",
                    dir.toString()
                },
                System.out,
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
        String report = Files.readString(dir.resolve("report.md"));
        assertTrue(report.contains("float32 data, precision BFLOAT16"), report);
        for (String line : Files.readAllLines(dir.resolve("results.csv")).subList(1, 4)) {
            assertTrue(csvRow(line).get(10).equals("ok"), "a row did not run: " + line);
        }
    }

    @Test
    void bfloat16PrecisionOnFloat16DataIsRefused() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AttentionBenchmark.run(
                new String[] {"--dtype", "float16", "--precision", "bfloat16", "--device", "cpu"},
                System.out,
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, code);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("add --dtype float32"), err.toString());
    }

    @Test
    void unknownBackendPrintsUsageAndFails() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AttentionBenchmark.run(
                new String[] {"--backends", "cuda,bogus"},
                System.out,
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, code);
        String text = err.toString(StandardCharsets.UTF_8);
        assertTrue(text.startsWith("AttentionBenchmark: --backends: expected a comma-separated list of "), text);
        assertTrue(text.contains(" or all but got 'bogus' in 'cuda,bogus'"), text);
        assertTrue(text.contains("usage:"), text);
    }

    @Test
    void badGridOrNumberPrintsUsageAndFails() {
        for (String[] args : new String[][] {
            {"--grid", "huge"}, {"--repeats", "0"}, {"--repeats"}, {"--frobnicate", "1"}, {"--device", "tpu"}
        }) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = AttentionBenchmark.run(args, System.out, new PrintStream(err, true, StandardCharsets.UTF_8));
            assertEquals(2, code, Arrays.toString(args));
            assertTrue(err.toString(StandardCharsets.UTF_8).contains("usage:"), Arrays.toString(args));
        }
    }

    @Test
    void helpExitsZeroAndShowsTheDefaults() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AttentionBenchmark.run(
                new String[] {"--help"},
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
        String help = out.toString(StandardCharsets.UTF_8).replaceAll("\\s+", " "); // unwrapped
        for (String s : new String[] {
            "usage: AttentionBenchmark [options]",
            "(default all on a GPU, cpu-smoke on a CPU)",
            "--backends LIST",
            "(default all)",
            "(default 20 on a GPU, 3 on a CPU)",
            "--target-ms X",
            "(default 200)",
            "--allocator A",
            "(default async)",
            "--device D",
            "(default auto)",
            "--help"
        }) {
            assertTrue(help.contains(s), "--help lacks '" + s + "':\n" + help);
        }
    }

    @Test
    void aBadNumberNamesItsOption() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AttentionBenchmark.run(
                new String[] {"--target-ms", "fast"}, System.out, new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, code);
        List<String> lines = err.toString(StandardCharsets.UTF_8).lines().collect(Collectors.toList());
        assertEquals("AttentionBenchmark: --target-ms: expected a number > 0 but got 'fast'", lines.get(0));
        assertEquals(2, lines.size(), "one line and the usage hint: " + lines);
    }

    @Test
    void generatedTorchScriptCallsTheForcedKernels() {
        assertTrue(Impl.Aten.source(Impl.Aten.Kind.FLASH, true, false)
                .contains("torch._scaled_dot_product_flash_attention(q, k, v, 0., True"));
        assertTrue(Impl.Aten.source(Impl.Aten.Kind.CUDNN, false, false)
                .contains("torch._scaled_dot_product_cudnn_attention(q, k, v, None, need_lse"));
        assertTrue(Impl.Aten.source(Impl.Aten.Kind.EFFICIENT, false, false)
                .contains("torch._scaled_dot_product_efficient_attention(q, k1, v1"));
        assertTrue(Impl.Aten.source(Impl.Aten.Kind.MATH, true, false)
                .contains("torch._scaled_dot_product_attention_math("));
        assertTrue(Impl.Aten.source(Impl.Aten.Kind.AUTO, true, false).contains("torch.scaled_dot_product_attention("));
        String autocast = Impl.Aten.source(Impl.Aten.Kind.CUDNN, true, true);
        assertTrue(autocast.contains("q = torch.to(q, 15)") && autocast.contains("return torch.to(out, 6)"), autocast);
    }

    private static List<String> csvRow(String line) {
        List<String> fields = new ArrayList<>();
        StringBuilder f = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char ch = line.charAt(i);
            if (quoted) {
                if (ch == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    f.append('"');
                    i++;
                } else if (ch == '"') {
                    quoted = false;
                } else {
                    f.append(ch);
                }
            } else if (ch == '"') {
                quoted = true;
            } else if (ch == ',') {
                fields.add(f.toString());
                f.setLength(0);
            } else {
                f.append(ch);
            }
        }
        fields.add(f.toString());
        return fields;
    }
}
