package io.flashdjl.examples.gpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flashdjl.examples.ProgramOutput;
import io.flashdjl.testing.TestSeed;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --resume} on the CPU: a run interrupted after its checkpoint at step {@value #INTERRUPTED} and resumed
 * against the same run done straight, with the same seed. Weights, step, learning-rate schedule, data stream and
 * smoothed loss are restored; Adam's moments are not (DJL 0.35.1 keeps them private), so only the first step
 * after the resume is compared exactly.
 */
@ExtendWith(TestSeed.class)
class GptResumeTest {

    private static final int STEPS = 20;
    private static final int INTERRUPTED = 10;

    @TempDir
    Path dir;

    private long seed;

    @BeforeEach
    void seed(SplittableRandom rng) {
        seed = rng.nextLong();
    }

    /** A small addition run writing to {@code out}, evaluated (and checkpointed) after every step. */
    private String[] args(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of(args(more)));
        a.add("--out");
        a.add(out.toString());
        return a.toArray(new String[0]);
    }

    /** The same run writing to the default run folder. */
    private String[] args(String... more) {
        List<String> a = new ArrayList<>(List.of(
                "--device",
                "cpu",
                "--steps",
                Integer.toString(STEPS),
                "--eval-every",
                "1",
                "--warmup",
                "5",
                "--lr",
                "0.01",
                "--batch",
                "16",
                "--held-out",
                "16",
                "--layers",
                "1",
                "--embedding",
                "32",
                "--seed",
                Long.toString(seed)));
        a.addAll(Arrays.asList(more));
        return a.toArray(new String[0]);
    }

    private static String train(String[] args, ByteArrayOutputStream sink) {
        GptExample.train(GptOptions.parse(args), new PrintStream(sink, true, StandardCharsets.UTF_8));
        return sink.toString(StandardCharsets.UTF_8);
    }

    /** Stands for a crash: thrown at the run's first output after the evaluation (and checkpoint) of a step. */
    private static final class Crash extends RuntimeException {
        Crash() {
            super("interrupted");
        }
    }

    /** Collects the output and crashes the run once the line of {@code step N:} is complete. */
    private static ByteArrayOutputStream crashingAfterStep(int step) {
        return new ByteArrayOutputStream() {
            @Override
            public synchronized void write(byte[] b, int off, int len) {
                String text = toString(StandardCharsets.UTF_8);
                int at = text.indexOf("\nstep " + step + ":");
                if (at >= 0 && text.indexOf('\n', at + 1) >= 0) {
                    throw new Crash();
                }
                super.write(b, off, len);
            }
        };
    }

    private static List<String[]> rows(Path run) throws IOException {
        List<String> lines = Files.readAllLines(run.resolve("metrics.csv"));
        assertEquals(MetricsLog.HEADER, lines.get(0));
        return lines.subList(1, lines.size()).stream()
                .map(l -> l.split(",", -1))
                .toList();
    }

    private static byte[] parameters(Path run) throws IOException {
        try (Stream<Path> files = Files.list(run.resolve("checkpoint"))) {
            List<Path> params =
                    files.filter(p -> p.toString().endsWith(".params")).toList();
            assertEquals(1, params.size(), params.toString());
            return Files.readAllBytes(params.get(0));
        }
    }

    @Test
    void anInterruptedRunResumesWhereItsCheckpointLeftIt() throws IOException {
        Path straight = dir.resolve("straight");
        train(args(straight), new ByteArrayOutputStream());
        List<String[]> expected = rows(straight);
        assertEquals(STEPS, expected.size());

        Path run = dir.resolve("interrupted");
        assertThrows(Crash.class, () -> train(args(run), crashingAfterStep(INTERRUPTED)));
        List<String[]> before = rows(run);
        assertEquals(INTERRUPTED, before.size(), "one row per step up to the checkpoint");
        for (int i = 0; i < INTERRUPTED; i++) { // the precondition: with one seed, runs are repeatable
            assertArrayEquals(
                    Arrays.copyOf(expected.get(i), 3), Arrays.copyOf(before.get(i), 3), "step, losses at row " + i);
        }
        byte[] loaded = parameters(run);

        // without --out, a resumed run writes to the run folder of the checkpoint it names
        String log = train(args("--resume", run.resolve("checkpoint").toString()), new ByteArrayOutputStream());
        assertTrue(log.contains("resumed from " + run.resolve("checkpoint") + " at step " + INTERRUPTED), log);
        List<String[]> after = rows(run);
        assertEquals(STEPS, after.size(), "metrics.csv appended, not restarted");
        LearningRateSchedule schedule = new LearningRateSchedule(GptOptions.parse(args(run)), 0);
        for (int i = 0; i < STEPS; i++) {
            int step = i + 1;
            assertEquals(Integer.toString(step), after.get(i)[0], "the step count continues");
            if (i < INTERRUPTED) {
                assertArrayEquals(before.get(i), after.get(i), "the rows before the resume are kept as written");
            }
            assertEquals(expected.get(i)[5], after.get(i)[5], "learning rate at step " + step);
            assertEquals(Float.toString(schedule.at(step)), after.get(i)[5], "the schedule's value at step " + step);
        }
        // step 11's loss is measured before its update: the restored weights on the restored data stream, added
        // to the restored smoothed loss, give exactly the uninterrupted run's figure
        assertEquals(expected.get(INTERRUPTED)[1], after.get(INTERRUPTED)[1], "smoothed train loss at step 11");
        assertFalse(Arrays.equals(loaded, parameters(run)), "the resumed run trained the weights it loaded");
    }

    @Test
    void aCheckpointThatHasDoneTheStepsAskedForIsRefusedInOneLine() {
        Path run = dir.resolve("done");
        train(args(run), new ByteArrayOutputStream());
        String[] r = ProgramOutput.capture(GptExample::run, args(dir.resolve("more"), "--resume", run.toString()));
        assertEquals("2", r[0], r[2]);
        assertEquals(
                "GptExample: --resume: the checkpoint in " + run.resolve("checkpoint") + " has done " + STEPS
                        + " steps and --steps is " + STEPS + ": ask for more --steps to continue",
                r[2].strip());
        assertFalse(Files.exists(dir.resolve("more")), "nothing written for a refused resume");
    }

    @Test
    void aCheckpointWithoutUsableProgressIsRefusedInOneLine() throws IOException {
        Path run = dir.resolve("old");
        train(args(run, "--steps", "2"), new ByteArrayOutputStream());
        Path properties = run.resolve("checkpoint").resolve("gpt.properties");
        List<String> lines = Files.readAllLines(properties);

        Files.write(
                properties,
                lines.stream().filter(l -> !l.startsWith("progress.")).toList());
        String[] r = ProgramOutput.capture(GptExample::run, args(dir.resolve("more"), "--resume", run.toString()));
        assertEquals("2", r[0], r[2]);
        assertEquals(
                "GptExample: --resume: the checkpoint in " + run.resolve("checkpoint") + " records no training progress"
                        + " (progress.step, progress.smoothedLoss, progress.random); it was written before --resume"
                        + " continued runs",
                r[2].strip());

        // a serialised object other than a Random is not deserialised
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(new ArrayList<>(List.of("x")));
        }
        String other = Base64.getEncoder().encodeToString(bytes.toByteArray());
        Files.write(
                properties,
                lines.stream()
                        .map(l -> l.startsWith("progress.random=") ? "progress.random=" + other : l)
                        .toList());
        r = ProgramOutput.capture(GptExample::run, args(dir.resolve("more"), "--resume", run.toString()));
        assertEquals("2", r[0], r[2]);
        assertTrue(r[2].startsWith("GptExample: --resume: unreadable training progress in " + properties + ": "), r[2]);
        assertEquals(1, r[2].lines().count(), r[2]);
        assertFalse(Files.exists(dir.resolve("more")), "nothing written for a refused resume");
    }

    @Test
    void resumedMetricsKeepOnlyTheRowsUpToTheCheckpoint() throws IOException {
        Path file = dir.resolve("metrics.csv");
        try (MetricsLog log = new MetricsLog(file, 0)) {
            for (int step = 1; step <= 3; step++) {
                log.add(new MetricsLog.Row(step, 2.0 / step, 3.0 / step, Double.NaN, 100, 0.001f * step));
            }
        }
        List<String> written = Files.readAllLines(file);
        try (MetricsLog log = new MetricsLog(file, 2)) { // the checkpoint was at step 2, a crash came after row 3
            assertEquals(List.of(1, 2), log.rows().stream().map(r -> r.step).toList());
            log.add(new MetricsLog.Row(3, 0.5, 0.7, Double.NaN, 100, 0.002));
        }
        List<String> resumed = Files.readAllLines(file);
        assertEquals(written.subList(0, 3), resumed.subList(0, 3), "the header and rows 1, 2 as they were");
        assertEquals(4, resumed.size());
        assertTrue(resumed.get(3).startsWith("3,0.500000,0.700000,,100.0,"), resumed.get(3));
        try (MetricsLog log = new MetricsLog(file, 0)) { // a fresh run starts the file anew
            assertTrue(log.rows().isEmpty());
        }
        assertEquals(List.of(MetricsLog.HEADER), Files.readAllLines(file));
    }
}
