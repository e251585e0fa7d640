package io.flashdjl.examples.chart;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A line chart rasterised in plain Java (the device machine's JRE has no AWT): x on a log2 axis
 * (sequence lengths) or a linear one (training steps), y linear from 0, one coloured line with
 * dot markers per series, a legend, and labels in a built-in 5x7 bitmap font (upper case). Drawn
 * at 2x scale for legibility.
 */
public final class LineChart {

    /** How x values are placed. */
    public enum XAxis {
        /** Powers of two equally spaced, labelled 512, 1K, 2K, ... */
        LOG2,
        /** Linear from the smallest to the largest x. */
        LINEAR
    }

    static final int WIDTH = 900;
    static final int HEIGHT = 560;
    private static final int LEFT = 110;
    private static final int RIGHT = 250;
    private static final int TOP = 50;
    private static final int BOTTOM = 70;
    private static final int[] COLORS = {
        0xd62728, 0x1f77b4, 0x2ca02c, 0xff7f0e, 0x9467bd, 0x8c564b, 0xe377c2, 0x17becf, 0x7f7f7f, 0xbcbd22
    };

    private final XAxis xAxis;
    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final Map<String, List<double[]>> series = new LinkedHashMap<>();
    private final int[] px = new int[WIDTH * HEIGHT];

    /** A chart with a log2 x axis. */
    public LineChart(String title, String xLabel, String yLabel) {
        this(XAxis.LOG2, title, xLabel, yLabel);
    }

    public LineChart(XAxis xAxis, String title, String xLabel, String yLabel) {
        this.xAxis = xAxis;
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    public void add(String name, double x, double y) {
        series.computeIfAbsent(name, k -> new ArrayList<>()).add(new double[] {x, y});
    }

    public boolean isEmpty() {
        return series.isEmpty();
    }

    public byte[] png() {
        Arrays.fill(px, 0xffffff);
        double xMin = Double.MAX_VALUE;
        double xMax = -Double.MAX_VALUE;
        double yMax = 0;
        for (List<double[]> pts : series.values()) {
            pts.sort((a, b) -> Double.compare(a[0], b[0]));
            for (double[] p : pts) {
                xMin = Math.min(xMin, position(p[0]));
                xMax = Math.max(xMax, position(p[0]));
                yMax = Math.max(yMax, p[1]);
            }
        }
        if (xMax <= xMin) {
            xMin -= 1;
            xMax += 1;
        }
        double step = niceStep(yMax > 0 ? yMax / 5 : 1);
        yMax = Math.max(step, Math.ceil(yMax * 1.05 / step) * step);
        int plotW = WIDTH - LEFT - RIGHT;
        int plotH = HEIGHT - TOP - BOTTOM;
        // grid and y ticks
        for (double y = 0; y <= yMax + step / 2; y += step) {
            int yy = TOP + plotH - (int) Math.round(y / yMax * plotH);
            line(LEFT, yy, LEFT + plotW, yy, 0xe0e0e0, 1);
            String label = number(y);
            text(LEFT - 8 - textWidth(label, 2), yy - 7, label, 0x000000, 2);
        }
        // x ticks: each power of two present, or round steps
        double xStep = xAxis == XAxis.LOG2 ? 1 : niceStep((xMax - xMin) / 6);
        for (double e = Math.ceil((xMin - 1e-9) / xStep) * xStep; e <= xMax + 1e-9; e += xStep) {
            int xx = LEFT + (int) Math.round((e - xMin) / (xMax - xMin) * plotW);
            line(xx, TOP, xx, TOP + plotH, 0xe0e0e0, 1);
            String label = xAxis == XAxis.LOG2 ? powerOfTwo(Math.round(e)) : number(e);
            text(xx - textWidth(label, 2) / 2, TOP + plotH + 8, label, 0x000000, 2);
        }
        line(LEFT, TOP, LEFT, TOP + plotH, 0x000000, 2);
        line(LEFT, TOP + plotH, LEFT + plotW, TOP + plotH, 0x000000, 2);
        text((WIDTH - textWidth(title, 2)) / 2, 14, title, 0x000000, 2);
        text(LEFT + (plotW - textWidth(xLabel, 2)) / 2, HEIGHT - 30, xLabel, 0x000000, 2);
        text(8, TOP - 26, yLabel, 0x000000, 2);
        int i = 0;
        for (Map.Entry<String, List<double[]>> s : series.entrySet()) {
            int color = COLORS[i % COLORS.length];
            int prevX = -1;
            int prevY = -1;
            for (double[] p : s.getValue()) {
                int xx = LEFT + (int) Math.round((position(p[0]) - xMin) / (xMax - xMin) * plotW);
                int yy = TOP + plotH - (int) Math.round(p[1] / yMax * plotH);
                if (prevX >= 0) {
                    line(prevX, prevY, xx, yy, color, 3);
                }
                dot(xx, yy, color, 5);
                prevX = xx;
                prevY = yy;
            }
            int ly = TOP + 10 + 26 * i;
            line(WIDTH - RIGHT + 20, ly + 7, WIDTH - RIGHT + 50, ly + 7, color, 3);
            dot(WIDTH - RIGHT + 35, ly + 7, color, 5);
            text(WIDTH - RIGHT + 58, ly, s.getKey(), 0x000000, 2);
            i++;
        }
        return Png.encode(WIDTH, HEIGHT, px);
    }

    private double position(double x) {
        return xAxis == XAxis.LOG2 ? Math.log(x) / Math.log(2) : x;
    }

    /** 2^e as 512, 1K, 16K. */
    private static String powerOfTwo(long e) {
        long n = 1L << e;
        return n >= 1024 && n % 1024 == 0 ? (n / 1024) + "K" : Long.toString(n);
    }

    /** 1, 2 or 5 times a power of ten, at least {@code raw}. */
    public static double niceStep(double raw) {
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * p >= raw) {
                return m * p;
            }
        }
        return 10 * p;
    }

    /** At most three significant digits, no trailing zeros, no exponent. */
    public static String number(double v) {
        if (v == 0) {
            return "0";
        }
        return new BigDecimal(v).round(new MathContext(3)).stripTrailingZeros().toPlainString();
    }

    private void set(int x, int y, int color) {
        if (x >= 0 && y >= 0 && x < WIDTH && y < HEIGHT) {
            px[y * WIDTH + x] = color;
        }
    }

    private void dot(int cx, int cy, int color, int r) {
        for (int y = -r; y <= r; y++) {
            for (int x = -r; x <= r; x++) {
                if (x * x + y * y <= r * r) {
                    set(cx + x, cy + y, color);
                }
            }
        }
    }

    /** A line of the given thickness: squares stamped along a DDA walk. */
    private void line(int x0, int y0, int x1, int y1, int color, int thickness) {
        int steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0));
        int h = thickness / 2;
        for (int s = 0; s <= steps; s++) {
            int x = steps == 0 ? x0 : x0 + Math.round((float) (x1 - x0) * s / steps);
            int y = steps == 0 ? y0 : y0 + Math.round((float) (y1 - y0) * s / steps);
            for (int dy = -h; dy < thickness - h; dy++) {
                for (int dx = -h; dx < thickness - h; dx++) {
                    set(x + dx, y + dy, color);
                }
            }
        }
    }

    static int textWidth(String s, int scale) {
        return s.length() * 6 * scale;
    }

    private void text(int x, int y, String s, int color, int scale) {
        String up = s.toUpperCase(Locale.ROOT);
        for (int i = 0; i < up.length(); i++) {
            int[] cols = Font5x7.glyph(up.charAt(i));
            for (int cx = 0; cx < 5; cx++) {
                for (int cy = 0; cy < 7; cy++) {
                    if ((cols[cx] >> cy & 1) != 0) {
                        for (int sy = 0; sy < scale; sy++) {
                            for (int sx = 0; sx < scale; sx++) {
                                set(x + (6 * i + cx) * scale + sx, y + cy * scale + sy, color);
                            }
                        }
                    }
                }
            }
        }
    }
}
