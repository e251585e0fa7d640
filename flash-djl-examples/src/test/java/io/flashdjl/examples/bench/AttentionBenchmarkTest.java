package io.flashdjl.examples.bench;

import io.flashdjl.examples.chart.Png;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
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
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import io.flashdjl.testing.TestSeed;
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
    void cpuSmokeWritesReportCsvAndCharts(@TempDir Path dir) throws IOException, DataFormatException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AttentionBenchmark.run(new String[] {"--grid", "cpu-smoke", "--device", "cpu", "--repeats", "2",
            "--out", dir.toString()}, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, code, err.toString(StandardCharsets.UTF_8));

        String report = Files.readString(dir.resolve("report.md"));
        for (String s : new String[] {"# flash-djl attention benchmark", "| command |", "AttentionBenchmark", "| torch |",
            "| DJL |", "| JVM |", "| date |", "4*B*Hq*Nq*Nk*d", "## Grid `cpu-smoke`", "### fwd+bwd"}) {
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
        }
        // every implementation that runs on a CPU produced timings in every direction
        assertEquals(Set.of("reference", "sdpa", "sdpa-auto", "sdpa-math", "naive"), ran);

        List<Path> pngs;
        try (Stream<Path> files = Files.list(dir)) {
            pngs = files.filter(p -> p.toString().endsWith(".png")).sorted().collect(Collectors.toList());
        }
        assertFalse(pngs.isEmpty(), "no charts");
        for (Path png : pngs) {
            assertTrue(report.contains("(" + png.getFileName() + ")"), "report.md does not show " + png.getFileName());
            checkPng(Files.readAllBytes(png));
        }
    }

    @Test
    void unknownBackendPrintsUsageAndFails() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AttentionBenchmark.run(new String[] {"--backends", "cuda,bogus"}, System.out,
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, code);
        String text = err.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("unknown backend 'bogus'"), text);
        assertTrue(text.contains("usage:"), text);
    }

    @Test
    void badGridOrNumberPrintsUsageAndFails() {
        for (String[] args : new String[][] {{"--grid", "huge"}, {"--repeats", "0"}, {"--repeats"}, {"--frobnicate", "1"},
            {"--device", "tpu"}}) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = AttentionBenchmark.run(args, System.out, new PrintStream(err, true, StandardCharsets.UTF_8));
            assertEquals(2, code, Arrays.toString(args));
            assertTrue(err.toString(StandardCharsets.UTF_8).contains("usage:"), Arrays.toString(args));
        }
    }

    @Test
    void generatedTorchScriptCallsTheForcedKernels() {
        assertTrue(Impl.Aten.source(Impl.Aten.Kind.FLASH, true).contains("torch._scaled_dot_product_flash_attention(q, k, v, 0., True"));
        assertTrue(Impl.Aten.source(Impl.Aten.Kind.CUDNN, false).contains("torch._scaled_dot_product_cudnn_attention(q, k, v, None, need_lse"));
        assertTrue(Impl.Aten.source(Impl.Aten.Kind.EFFICIENT, false).contains("torch._scaled_dot_product_efficient_attention(q, k1, v1"));
        assertTrue(Impl.Aten.source(Impl.Aten.Kind.MATH, true).contains("torch._scaled_dot_product_attention_math("));
        assertTrue(Impl.Aten.source(Impl.Aten.Kind.AUTO, true).contains("torch.scaled_dot_product_attention("));
    }

    /** A PNG: signature, chunks with valid CRCs, IHDR first, IDAT inflating to the image's size, IEND last. */
    static void checkPng(byte[] png) throws IOException, DataFormatException {
        assertArrayEquals(Png.SIGNATURE, Arrays.copyOf(png, 8));
        DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(png, 8, png.length - 8));
        int width = 0;
        int height = 0;
        ByteArrayOutputStream idat = new ByteArrayOutputStream();
        List<String> types = new ArrayList<>();
        while (in.available() > 0) {
            int length = in.readInt();
            byte[] type = in.readNBytes(4);
            byte[] data = in.readNBytes(length);
            CRC32 crc = new CRC32();
            crc.update(type);
            crc.update(data);
            assertEquals((int) crc.getValue(), in.readInt(), "chunk CRC");
            String t = new String(type, StandardCharsets.US_ASCII);
            types.add(t);
            if (t.equals("IHDR")) {
                DataInputStream h = new DataInputStream(new java.io.ByteArrayInputStream(data));
                width = h.readInt();
                height = h.readInt();
                assertEquals(8, h.readUnsignedByte());
                assertEquals(2, h.readUnsignedByte());
            } else if (t.equals("IDAT")) {
                idat.write(data);
            }
        }
        assertEquals("IHDR", types.get(0));
        assertEquals("IEND", types.get(types.size() - 1));
        assertTrue(width > 0 && height > 0);
        Inflater inflater = new Inflater();
        inflater.setInput(idat.toByteArray());
        byte[] pixels = new byte[height * (1 + 3 * width) + 1];
        int n = inflater.inflate(pixels);
        assertTrue(inflater.finished());
        assertEquals(height * (1 + 3 * width), n);
        boolean drawn = false;
        for (int i = 0; i < n && !drawn; i++) {
            drawn = i % (1 + 3 * width) != 0 && pixels[i] != (byte) 0xff;
        }
        assertTrue(drawn, "the chart is blank");
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
