package io.flashdjl.examples.gpt;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.engine.Engine;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --devices 2} trains the model {@code --devices 1} trains: same seed, same global batch, and each
 * evaluated step's train and validation loss equal within 1e-3 relative. The two differ only in the order of
 * float32 sums (each device's share of the gradient, added by DJL's parameter server), which moves a loss by
 * about 1e-6 per step; 1e-3 after 30 steps of Adam leaves room for that drift and none for a lost or doubled
 * share (a factor of two in the gradient changes the loss at the first evaluation by far more).
 */
@Tag("gpu")
class GptMultiDeviceTest {

    private static final Pattern EVALUATION =
            Pattern.compile("step (\\d+): train loss ([0-9.]+), validation loss ([0-9.]+)");

    @TempDir
    Path dir;

    @Test
    void twoDevicesTrainTheOneDeviceModel() {
        assumeTrue(Engine.getInstance().getGpuCount() >= 2, "needs two GPUs");
        // the seed as TestSeed prints and replays it (no parameter: the GPU test census resolves none)
        long drawn = Long.getLong("flashdjl.test.seed", new SplittableRandom().nextLong());
        System.out.println("seed=" + drawn + " (replay with -Dflashdjl.test.seed=" + drawn + ")");
        String seed = Long.toString(drawn);
        List<double[]> one = evaluations(run(seed, "1", "one"));
        List<double[]> two = evaluations(run(seed, "2", "two"));
        assertTrue(!one.isEmpty() && one.size() == two.size(), one.size() + " vs " + two.size() + " evaluations");
        for (int i = 0; i < one.size(); i++) {
            for (int j = 1; j < 3; j++) {
                double a = one.get(i)[j];
                double b = two.get(i)[j];
                assertTrue(
                        Math.abs(a - b) <= 1e-3 * Math.abs(a),
                        "step " + (int) one.get(i)[0] + (j == 1 ? " train" : " validation") + " loss: one device " + a
                                + ", two " + b);
            }
        }
    }

    private String run(String seed, String devices, String out) {
        String[] args = {
            "--device",
            "gpu",
            "--devices",
            devices,
            "--steps",
            "30",
            "--eval-every",
            "10",
            "--batch",
            "32",
            "--digits",
            "2",
            "--held-out",
            "64",
            "--layers",
            "2",
            "--embedding",
            "64",
            "--seed",
            seed,
            "--out",
            dir.resolve(out).toString()
        };
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        GptExample.train(GptOptions.parse(args), new PrintStream(bytes, true, StandardCharsets.UTF_8));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private static List<double[]> evaluations(String log) {
        List<double[]> rows = new ArrayList<>();
        Matcher m = EVALUATION.matcher(log);
        while (m.find()) {
            rows.add(new double[] {
                Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2)), Double.parseDouble(m.group(3))
            });
        }
        return rows;
    }
}
