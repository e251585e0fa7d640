package io.flashdjl.examples;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** Runs an example program as its {@code main} does, capturing what it prints. */
public final class ProgramOutput {

    /** An example's {@code run(args, out, err)}, which returns the exit code. */
    @FunctionalInterface
    public interface Program {
        /**
         * Runs the program.
         *
         * @param args the command line
         * @param out standard output
         * @param err standard error
         * @return the exit code
         */
        int run(String[] args, PrintStream out, PrintStream err);
    }

    private ProgramOutput() {}

    /**
     * Runs {@code program} on {@code args}.
     *
     * @param program the program
     * @param args its command line
     * @return the exit code, stdout and stderr
     */
    public static String[] capture(Program program, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = program.run(
                args,
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new String[] {
            Integer.toString(code), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8)
        };
    }
}
