package io.flashdjl.examples.gpt;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line progress bar with loss and tokens/s. On a terminal it redraws in place; otherwise
 * (CI, a pipe) it prints a line every tenth of the run, so logs stay short.
 */
final class ProgressBar {

    private final PrintStream out;
    private final int total;
    private final boolean terminal = System.console() != null;
    private int lastPrintedTenth = -1;

    ProgressBar(PrintStream out, int total) {
        this.out = out;
        this.total = total;
    }

    void update(int step, double loss, double tokensPerSecond) {
        int width = 30;
        int filled = (int) ((long) width * step / total);
        String line = String.format(
                Locale.ROOT,
                "[%s%s] step %d/%d  loss %.4f  %s tok/s",
                "=".repeat(filled),
                " ".repeat(width - filled),
                step,
                total,
                loss,
                human(tokensPerSecond));
        if (terminal) {
            out.print("\r" + line);
            if (step == total) {
                out.println();
            }
        } else {
            int tenth = (int) (10L * step / total);
            if (tenth != lastPrintedTenth) {
                lastPrintedTenth = tenth;
                out.println(line);
            }
        }
    }

    /** Ends the current bar line before other output. */
    void interrupt() {
        if (terminal) {
            out.println();
        }
    }

    private static String human(double x) {
        return x >= 1e6
                ? String.format(Locale.ROOT, "%.2fM", x / 1e6)
                : x >= 1e3 ? String.format(Locale.ROOT, "%.1fk", x / 1e3) : String.format(Locale.ROOT, "%.0f", x);
    }
}
