package io.flashdjl.examples.chart;

import java.awt.Graphics2D;
import java.awt.geom.Rectangle2D;
import java.math.BigDecimal;
import java.text.DecimalFormat;
import java.util.ArrayList;
import java.util.List;
import org.jfree.chart.axis.AxisState;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberTick;
import org.jfree.chart.axis.TickType;
import org.jfree.chart.axis.ValueTick;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.TextAnchor;

/**
 * A base-10 log axis ticked at round values: powers of ten, 1-2-5 steps, every digit or every half
 * digit, whichever first gives at least four ticks (JFreeChart's own ticks fall at fractional powers
 * such as 3.162).
 */
final class RoundLogAxis extends LogAxis {

    private static final long serialVersionUID = 1L;
    private static final double[][] MANTISSAS = {
        {1},
        {1, 2, 5},
        {1, 2, 3, 4, 5, 6, 7, 8, 9},
        {1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5, 9, 9.5}
    };
    private static final int ENOUGH_TICKS = 4;

    RoundLogAxis(String label) {
        super(label);
        setSmallestValue(1e-9);
        setNumberFormatOverride(new DecimalFormat("0.###")); // for the fallback ticks: no 10^0.05
    }

    @Override
    public List refreshTicks(Graphics2D g2, AxisState state, Rectangle2D dataArea, RectangleEdge edge) {
        for (double[] mantissas : MANTISSAS) {
            List<ValueTick> ticks = ticks(mantissas, edge);
            if (ticks.size() >= ENOUGH_TICKS) {
                return ticks;
            }
        }
        return super.refreshTicks(g2, state, dataArea, edge); // a range narrower than one digit step
    }

    private List<ValueTick> ticks(double[] mantissas, RectangleEdge edge) {
        double lo = getLowerBound();
        double hi = getUpperBound();
        TextAnchor anchor = edge == RectangleEdge.LEFT
                ? TextAnchor.CENTER_RIGHT
                : edge == RectangleEdge.RIGHT
                        ? TextAnchor.CENTER_LEFT
                        : edge == RectangleEdge.TOP ? TextAnchor.BOTTOM_CENTER : TextAnchor.TOP_CENTER;
        // from the top down, so that of two crowded ticks (1 and 0.95) the power of ten is kept
        double minGap = Math.log10(hi / lo) / 20;
        double last = Double.POSITIVE_INFINITY;
        List<ValueTick> ticks = new ArrayList<>();
        for (int e = (int) Math.ceil(Math.log10(hi)); e >= (int) Math.floor(Math.log10(lo)); e--) {
            for (int i = mantissas.length - 1; i >= 0; i--) {
                BigDecimal value = BigDecimal.valueOf(mantissas[i]).scaleByPowerOfTen(e);
                double v = value.doubleValue();
                if (v >= lo && v <= hi && Math.log10(last / v) >= minGap) {
                    ticks.add(new NumberTick(
                            TickType.MAJOR, v, value.stripTrailingZeros().toPlainString(), anchor, anchor, 0.0));
                    last = v;
                }
            }
        }
        return ticks;
    }
}
