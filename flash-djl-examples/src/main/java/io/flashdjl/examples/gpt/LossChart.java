package io.flashdjl.examples.gpt;

import io.flashdjl.examples.chart.LineChart;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The loss curve of a run: smoothed training loss and validation loss against the step, as a PNG. */
final class LossChart {

    private LossChart() {}

    static void write(List<double[]> trainCurve, List<MetricsLog.Row> evaluations, Path file) {
        LineChart chart = new LineChart(LineChart.XAxis.LINEAR, "GPT loss", "step", "loss");
        for (double[] p : trainCurve) {
            chart.add("train", p[0], p[1]);
        }
        for (MetricsLog.Row r : evaluations) {
            chart.add("validation", r.step, r.validationLoss);
        }
        try {
            Files.write(file, chart.png());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }
}
