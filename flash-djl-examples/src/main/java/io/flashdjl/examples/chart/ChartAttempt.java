package io.flashdjl.examples.chart;

import java.io.IOException;
import java.io.PrintStream;

/**
 * Runs the drawing of charts so that a JVM that cannot draw (no {@code java.desktop} module, no
 * fonts or FreeType) costs only the charts: the reason goes to the log in one line and the run's
 * other outputs stand. This class touches no AWT type, so it loads on any JRE; the drawing code
 * is only loaded inside {@link #run}.
 */
public final class ChartAttempt {

    /** Work that draws and writes charts. */
    @FunctionalInterface
    public interface Drawing {
        void run() throws IOException;
    }

    private ChartAttempt() {}

    /**
     * Runs {@code drawing}.
     *
     * @param what what is drawn, for the message
     * @return whether it completed; if not, {@code log} has one line saying why
     */
    public static boolean run(String what, Drawing drawing, PrintStream log) {
        try {
            drawing.run();
            return true;
        } catch (IOException | RuntimeException | LinkageError e) {
            String message =
                    e.getMessage() == null ? "" : ": " + e.getMessage().strip().split("\\R", 2)[0];
            log.println(what + " not drawn: " + e.getClass().getSimpleName() + message
                    + " (charts need the java.desktop module, a font and FreeType)");
            return false;
        }
    }
}
