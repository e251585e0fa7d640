package io.flashdjl.examples.chart;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import java.util.function.LongFunction;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.plot.Plot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The examples' charts, drawn with JFreeChart off-screen: the JVM runs headless (no display is
 * opened), but it needs the {@code java.desktop} module and a font on the machine. Callers draw
 * through {@link ChartAttempt}, so that a JVM without them loses only the charts.
 */
public final class Charts {

    /** Pixels of every chart. */
    public static final int WIDTH = 900;

    public static final int HEIGHT = 560;

    /** Distinct colours that read on white (the "tab10" palette); JFreeChart's default has a pale yellow. */
    private static final int[] PALETTE = {
        0xd62728, 0x1f77b4, 0x2ca02c, 0xff7f0e, 0x9467bd, 0x8c564b, 0xe377c2, 0x17becf, 0x7f7f7f, 0xbcbd22
    };

    static {
        System.setProperty("java.awt.headless", "true"); // before anything asks AWT for a display
    }

    private Charts() {}

    /** The {@code i}-th colour of the charts' palette. */
    public static Color colour(int i) {
        return new Color(PALETTE[i % PALETTE.length]);
    }

    /**
     * Lines with dot markers, one colour per series, on a white plot with grey grid lines; a null
     * {@code x} for a subplot whose x axis its combined plot owns.
     */
    public static XYPlot linePlot(XYSeriesCollection data, ValueAxis x, ValueAxis y) {
        XYLineAndShapeRenderer lines = new XYLineAndShapeRenderer(true, true);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            lines.setSeriesStroke(i, new BasicStroke(2f));
            lines.setSeriesPaint(i, colour(i));
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

    /** A log axis with powers of two equally spaced (sequence lengths), each labelled by {@code tickLabel}. */
    public static LogAxis log2(String label, LongFunction<String> tickLabel) {
        LogAxis axis = new LogAxis(label);
        axis.setBase(2);
        axis.setTickUnit(new NumberTickUnit(1)); // one tick per power of two
        axis.setMinorTickCount(1);
        axis.setNumberFormatOverride(new TickFormat(tickLabel));
        return axis;
    }

    /**
     * A log axis for values that fall by orders of magnitude (losses), with ticks at round values
     * (1, 2, 3, ... 10, 20, ...) rather than at fractional powers of ten.
     */
    public static LogAxis log10(String label) {
        return new RoundLogAxis(label);
    }

    /** A chart with its title and a legend below the plot. */
    public static JFreeChart chart(String title, Plot plot) {
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        chart.setPadding(new RectangleInsets(4, 4, 4, 20)); // room for the last x label
        return chart;
    }

    /** Writes the chart as a {@link #WIDTH} x {@link #HEIGHT} PNG. */
    public static void writePng(JFreeChart chart, Path file) throws IOException {
        ChartUtils.saveChartAsPNG(file.toFile(), chart, WIDTH, HEIGHT);
    }

    /** Whole-number tick labels written by a function (JFreeChart asks for a NumberFormat). */
    private static final class TickFormat extends NumberFormat {
        private static final long serialVersionUID = 1L;
        private final transient LongFunction<String> label;

        TickFormat(LongFunction<String> label) {
            this.label = label;
        }

        @Override
        public StringBuffer format(double number, StringBuffer to, FieldPosition pos) {
            return format(Math.round(number), to, pos);
        }

        @Override
        public StringBuffer format(long n, StringBuffer to, FieldPosition pos) {
            return to.append(label.apply(n));
        }

        @Override
        public Number parse(String source, ParsePosition pos) {
            throw new UnsupportedOperationException("labels only");
        }
    }
}
