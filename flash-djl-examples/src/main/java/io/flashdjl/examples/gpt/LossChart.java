package io.flashdjl.examples.gpt;

import io.flashdjl.examples.chart.Charts;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The learning curves of a run as a PNG: smoothed training loss and validation loss against the
 * step on a log axis, and below them the task's held-out score (exact-match accuracy of the
 * addition task) when it has one.
 */
final class LossChart {

    /** The chart's name in the run folder. */
    static final String FILE = "loss.png";

    private LossChart() {}

    /** Writes the chart (call it through {@link io.flashdjl.examples.chart.ChartAttempt}). */
    static void write(List<double[]> trainCurve, List<MetricsLog.Row> evaluations, Path file) throws IOException {
        XYSeries train = new XYSeries("train (smoothed)");
        XYSeries validation = new XYSeries("validation");
        XYSeries accuracy = new XYSeries("held-out exact match");
        for (double[] p : trainCurve) {
            addPositive(train, p[0], p[1]);
        }
        for (MetricsLog.Row r : evaluations) {
            addPositive(validation, r.step, r.validationLoss);
            if (Double.isFinite(r.score)) {
                accuracy.add(r.step, r.score);
            }
        }
        XYSeriesCollection losses = new XYSeriesCollection();
        losses.addSeries(train);
        losses.addSeries(validation);
        NumberAxis steps = new NumberAxis("step");
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(steps);
        XYPlot lossPlot = Charts.linePlot(losses, null, Charts.log10("loss (log scale)"));
        ((XYLineAndShapeRenderer) lossPlot.getRenderer()).setSeriesShapesVisible(0, false); // ~100 points
        plot.add(lossPlot, 3);
        if (!accuracy.isEmpty()) {
            NumberAxis fraction = new NumberAxis("exact match");
            fraction.setRange(0, 1);
            XYPlot scores = Charts.linePlot(new XYSeriesCollection(accuracy), null, fraction);
            scores.getRenderer().setSeriesPaint(0, Charts.colour(2)); // not a loss's colour
            plot.add(scores, 2);
        }
        Charts.writePng(Charts.chart("GPT learning curves", plot), file);
    }

    /** A log axis cannot show 0 or NaN: such points (a diverged step) are left out. */
    private static void addPositive(XYSeries s, double x, double y) {
        if (y > 0 && Double.isFinite(y)) {
            s.add(x, y);
        }
    }
}
