package io.flashdjl.examples.chart;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.plot.Plot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The examples' charts, drawn with JFreeChart off-screen: the JVM runs headless (no display is
 * opened), but it needs the {@code java.desktop} module and a font on the machine.
 */
public final class Charts {

    /** Pixels of every chart. */
    public static final int WIDTH = 900;
    public static final int HEIGHT = 560;

    static {
        System.setProperty("java.awt.headless", "true"); // before anything asks AWT for a display
    }

    /** Work that draws and writes charts. */
    @FunctionalInterface
    public interface Drawing {
        void run() throws IOException;
    }

    private Charts() {}

    /**
     * Runs {@code drawing}; if this JVM cannot draw (the {@code java.desktop} module or fonts are
     * missing) or the file cannot be written, says why in one line on {@code log} and returns false:
     * charts are an extra, and the run's other outputs stand without them.
     */
    public static boolean draw(String what, Drawing drawing, PrintStream log) {
        try {
            drawing.run();
            return true;
        } catch (IOException | RuntimeException | LinkageError e) {
            String message = e.getMessage() == null ? "" : ": " + e.getMessage().strip().split("\\R", 2)[0];
            log.println(what + " not drawn: " + e.getClass().getSimpleName() + message
                    + " (charts need the java.desktop module and a font)");
            return false;
        }
    }

    /** Lines with dot markers, one colour per series, on a white plot with grey grid lines. */
    public static XYPlot linePlot(XYSeriesCollection data, org.jfree.chart.axis.ValueAxis x,
            org.jfree.chart.axis.ValueAxis y) {
        XYLineAndShapeRenderer lines = new XYLineAndShapeRenderer(true, true);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            lines.setSeriesStroke(i, new BasicStroke(2f));
        }
        XYPlot plot = new XYPlot(data, x, y, lines);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        return plot;
    }

    /** A linear axis starting at 0. */
    public static NumberAxis linearFromZero(String label) {
        NumberAxis axis = new NumberAxis(label);
        axis.setAutoRangeIncludesZero(true);
        return axis;
    }

    /** A log axis with powers of two equally spaced and labelled 512, 1k, 2k, ... (sequence lengths). */
    public static LogAxis log2(String label) {
        LogAxis axis = new LogAxis(label);
        axis.setBase(2);
        axis.setTickUnit(new NumberTickUnit(1)); // one tick per power of two
        axis.setMinorTickCount(1);
        axis.setNumberFormatOverride(new PowerOfTwoFormat());
        return axis;
    }

    /** A log axis in powers of ten, for values that fall by orders of magnitude (losses). */
    public static LogAxis log10(String label) {
        LogAxis axis = new LogAxis(label);
        axis.setSmallestValue(1e-6);
        axis.setNumberFormatOverride(new DecimalFormat("0.###"));
        return axis;
    }

    /** A chart with its title and a legend below the plot. */
    public static JFreeChart chart(String title, Plot plot) {
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    /** Writes the chart as a {@link #WIDTH} x {@link #HEIGHT} PNG. */
    public static void writePng(JFreeChart chart, Path file) throws IOException {
        ChartUtils.saveChartAsPNG(file.toFile(), chart, WIDTH, HEIGHT);
    }

    /** 512, 1k, 2k, ...: the sequence lengths as the benchmark's tables write them. */
    private static final class PowerOfTwoFormat extends NumberFormat {
        @Override
        public StringBuffer format(double number, StringBuffer to, FieldPosition pos) {
            return format(Math.round(number), to, pos);
        }

        @Override
        public StringBuffer format(long n, StringBuffer to, FieldPosition pos) {
            return to.append(n >= 1024 && n % 1024 == 0 ? (n / 1024) + "k" : Long.toString(n));
        }

        @Override
        public Number parse(String source, ParsePosition pos) {
            throw new UnsupportedOperationException("labels only");
        }
    }
}
