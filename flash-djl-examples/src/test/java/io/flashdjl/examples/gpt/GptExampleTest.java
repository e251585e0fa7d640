package io.flashdjl.examples.gpt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.flashdjl.Precision;
import io.flashdjl.examples.ProgramOutput;
import io.flashdjl.examples.chart.ChartsTest;
import io.flashdjl.testing.TestSeed;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPT example end to end on the CPU, at a size CI can afford (a smoke test, not the accuracy claim).
 * Every run gets the test's seed as its {@code --seed}.
 */
@ExtendWith(TestSeed.class)
class GptExampleTest {

    @TempDir
    Path dir;

    private long seed;

    @BeforeEach
    void seed(SplittableRandom rng) {
        seed = rng.nextLong();
    }

    private String run(String... args) {
        String[] seeded = Arrays.copyOf(args, args.length + 2);
        seeded[args.length] = "--seed";
        seeded[args.length + 1] = Long.toString(seed);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        GptExample.train(GptOptions.parse(seeded), new PrintStream(bytes, true, StandardCharsets.UTF_8));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    /** The program as {@code main} runs it: exit code, stdout, stderr. */
    private static String[] main(String... args) {
        return ProgramOutput.capture(GptExample::run, args);
    }

    @Test
    void additionTrainsWritesMetricsChartAndCheckpointAndResumes() throws Exception {
        Path out = dir.resolve("run");
        String log = run(
                "--device",
                "cpu",
                "--steps",
                "40",
                "--eval-every",
                "20",
                "--batch",
                "32",
                "--held-out",
                "64",
                "--layers",
                "1",
                "--embedding",
                "32",
                "--out",
                out.toString());
        assertTrue(log.contains("exact match on 64 held-out sums"), log);
        List<String> csv = Files.readAllLines(out.resolve("metrics.csv"));
        assertEquals("step,train_loss,validation_loss,score,tokens_per_second,learning_rate", csv.get(0));
        assertEquals(3, csv.size(), "two evaluations");
        double first = Double.parseDouble(csv.get(1).split(",")[1]);
        double last = Double.parseDouble(csv.get(2).split(",")[1]);
        assertTrue(last < first, "training loss falls: " + first + " -> " + last);
        ChartsTest.assertDrawnPng(out.resolve("loss.png"));
        assertTrue(Files.isRegularFile(out.resolve("checkpoint").resolve("gpt.properties")));
        assertFalse(Files.exists(out.resolve("checkpoint.tmp")), "no half-written checkpoint left");

        // --resume takes the run folder the run printed, or the checkpoint folder inside it
        Matcher printed = Pattern.compile("outputs in (.+)").matcher(log);
        assertTrue(printed.find(), log);
        assertEquals(out, Path.of(printed.group(1).strip()));
        for (Path resume : new Path[] {Path.of(printed.group(1).strip()), out.resolve("checkpoint")}) {
            String resumed = run(
                    "--device",
                    "cpu",
                    "--steps",
                    "41",
                    "--batch",
                    "32",
                    "--held-out",
                    "64",
                    "--layers",
                    "1",
                    "--embedding",
                    "32",
                    "--out",
                    dir.resolve("again").toString(),
                    "--resume",
                    resume.toString());
            assertTrue(resumed.contains("resumed from " + out.resolve("checkpoint") + " at step 40"), resumed);
        }
    }

    @Test
    void textFileTrainsAndSamples() throws Exception {
        Path text = dir.resolve("t.txt");
        Files.writeString(text, "the quick brown fox jumps over the lazy dog. ".repeat(200), StandardCharsets.UTF_8);
        String log = run(
                "--device",
                "cpu",
                "--text",
                text.toString(),
                "--context",
                "32",
                "--steps",
                "10",
                "--eval-every",
                "10",
                "--batch",
                "8",
                "--layers",
                "1",
                "--embedding",
                "32",
                "--out",
                dir.resolve("text").toString());
        assertTrue(log.contains("sample (prompt|generated)"), log);
    }

    @Test
    void emptyTextFileIsRefused() throws Exception {
        Path empty = Files.createFile(dir.resolve("empty.txt"));
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> run(
                        "--device",
                        "cpu",
                        "--text",
                        empty.toString(),
                        "--out",
                        dir.resolve("x").toString()));
        assertTrue(e.getMessage().contains("the file is empty"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("x")), "nothing written for a refused input");
    }

    @Test
    void textThatIsNotUtf8IsRefused() throws Exception {
        Path latin1 = dir.resolve("latin1.txt");
        Files.write(latin1, new byte[] {'c', 'a', 'f', (byte) 0xE9, ' ', 'o', 'k'});
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> run("--device", "cpu", "--text", latin1.toString()));
        assertTrue(e.getMessage().contains("is not valid UTF-8"), e.getMessage());
    }

    @Test
    void missingCheckpointIsRefused() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> run(
                        "--device",
                        "cpu",
                        "--steps",
                        "1",
                        "--resume",
                        dir.resolve("nothing").toString(),
                        "--out",
                        dir.resolve("y").toString()));
        assertTrue(
                e.getMessage()
                        .startsWith("--resume: no checkpoint in " + dir.resolve("nothing")
                                + " (expected the run folder an earlier run printed"),
                e.getMessage());
    }

    @Test
    void checkpointOfAnotherModelIsRefused() {
        Path out = dir.resolve("small");
        run(
                "--device",
                "cpu",
                "--steps",
                "2",
                "--eval-every",
                "2",
                "--batch",
                "8",
                "--held-out",
                "16",
                "--layers",
                "1",
                "--embedding",
                "32",
                "--out",
                out.toString());
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class,
                () -> run(
                        "--device",
                        "cpu",
                        "--steps",
                        "1",
                        "--batch",
                        "8",
                        "--held-out",
                        "16",
                        "--layers",
                        "2",
                        "--embedding",
                        "32",
                        "--out",
                        dir.resolve("z").toString(),
                        "--resume",
                        out.resolve("checkpoint").toString()));
        assertTrue(e.getMessage().contains("layers=1 but this run has layers=2"), e.getMessage());
    }

    @Test
    void helpExitsZeroAndShowsEveryOptionWithItsDefault() {
        String[] r = main("--help");
        assertEquals("0", r[0], r[2]);
        assertEquals("", r[2]);
        assertEquals(GptOptions.COMMAND_LINE.help(), r[1]);
        for (String s : new String[] {
            "usage: GptExample [options]",
            "--seed N",
            "(default 1)",
            "--steps N",
            "(default 2000; 600 with --large)",
            "--attention A",
            "(default flash)",
            "--device D",
            "(default gpu when DJL sees one)",
            "--resume DIR",
            "--large",
            "sets --layers 6",
            "--help"
        }) {
            assertTrue(r[1].replaceAll("\\s+", " ").contains(s), "--help lacks '" + s + "':\n" + r[1]);
        }
    }

    @Test
    void aBadNumberNamesItsOptionInOneLine() {
        String[] r = main("--steps", "3", "--seed", "abc");
        assertEquals("2", r[0]);
        assertEquals("", r[1], "nothing ran");
        List<String> lines = r[2].lines().toList();
        assertEquals("GptExample: --seed: expected an integer but got 'abc'", lines.get(0));
        assertEquals(2, lines.size(), "one line and the usage hint: " + r[2]);
        assertTrue(lines.get(1).startsWith("usage: GptExample [options]"), r[2]);
    }

    @Test
    void badOptionsExplainThemselves() {
        assertEquals(
                "--attention: expected flash, sdpa or naive but got 'fast'",
                assertThrows(
                                IllegalArgumentException.class,
                                () -> GptOptions.parse(new String[] {"--attention", "fast"}))
                        .getMessage());
        assertEquals(
                "--heads 4 must be a multiple of --kv-heads 3",
                assertThrows(IllegalArgumentException.class, () -> GptOptions.parse(new String[] {"--kv-heads", "3"}))
                        .getMessage());
        assertEquals(
                "--precision bfloat16: naive attention computes in the model's float32 (DJL has no bfloat16)",
                assertThrows(
                                IllegalArgumentException.class,
                                () -> GptOptions.parse(
                                        new String[] {"--attention", "naive", "--precision", "bfloat16"}))
                        .getMessage());
    }

    @Test
    void devicesMustSplitTheBatchOnGpus() {
        assertEquals(
                "--batch 5 must be a multiple of --devices 2 (an even split)",
                assertThrows(
                                IllegalArgumentException.class,
                                () -> GptOptions.parse(new String[] {"--devices", "2", "--batch", "5"}))
                        .getMessage());
        assertEquals(
                "--devices 2 trains on GPUs, but --device is cpu",
                assertThrows(
                                IllegalArgumentException.class,
                                () -> GptOptions.parse(new String[] {"--devices", "2", "--device", "cpu"}))
                        .getMessage());
    }

    @Test
    void theDefaultPrecisionIsTheFastestOnTheDevice() {
        GptOptions flash = GptOptions.parse(new String[0]);
        assertEquals(Precision.BFLOAT16, flash.precisionOn(Device.gpu()));
        assertEquals(Precision.FULL, flash.precisionOn(Device.cpu()));
        assertEquals(
                Precision.FULL,
                GptOptions.parse(new String[] {"--attention", "sdpa"}).precisionOn(Device.gpu()));
        assertEquals(
                Precision.FULL,
                GptOptions.parse(new String[] {"--precision", "full"}).precisionOn(Device.gpu()));
    }
}
