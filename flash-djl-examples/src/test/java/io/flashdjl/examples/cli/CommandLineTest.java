package io.flashdjl.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The one command-line parser of the examples: defaults, presets, messages that name the option. */
class CommandLineTest {

    private static final CommandLine CLI = new CommandLine("Prog", "Does things.")
            .option("--seed", "N", "random seed", "1")
            .option("--steps", "N", "steps", "10")
            .option("--lr", "X", "learning rate", "0.5")
            .option("--mode", "M", "fast or slow", "fast")
            .optionWithComputedDefault("--out", "DIR", "output folder", "runs/<date>")
            .flag("--cpu", "stay on the CPU")
            .preset("--large", "bigger", "--steps", "600");

    private static String message(String... args) {
        return assertThrows(IllegalArgumentException.class, () -> {
                    Values v = CLI.parse(args);
                    v.integer("--seed");
                    v.positiveInt("--steps");
                    v.positiveNumber("--lr");
                    v.choice("--mode", List.of("fast", "slow"));
                })
                .getMessage();
    }

    @Test
    void badValuesNameTheirOption() {
        assertEquals("--seed: expected an integer but got 'abc'", message("--seed", "abc"));
        assertEquals("--steps: expected a whole number >= 1 but got '0'", message("--steps", "0"));
        assertEquals("--steps: expected a whole number >= 1 but got '1.5'", message("--steps=1.5"));
        assertEquals("--lr: expected a number > 0 but got 'NaN'", message("--lr", "NaN"));
        assertEquals("--mode: expected fast or slow but got 'quick'", message("--mode", "quick"));
        assertEquals("--steps: expected a value N but got none", message("--steps"));
        assertEquals("unknown option --stepz", message("--stepz", "3"));
        assertEquals("unexpected argument 'extra'", message("extra"));
        assertEquals("--cpu: takes no value but got 'yes'", message("--cpu=yes"));
    }

    @Test
    void defaultsPresetsAndGivenValues() {
        Values v = CLI.parse(new String[0]);
        assertEquals(1, v.integer("--seed"));
        assertEquals(10, v.positiveInt("--steps"));
        assertFalse(v.isSet("--out"));
        assertEquals(null, v.path("--out"));
        assertFalse(v.flag("--cpu"));
        assertEquals(600, CLI.parse(new String[] {"--large"}).positiveInt("--steps"));
        // a value given on the command line wins over the preset, before or after it
        assertEquals(7, CLI.parse(new String[] {"--steps", "7", "--large"}).positiveInt("--steps"));
        assertEquals(-3, CLI.parse(new String[] {"--seed=-3", "--cpu"}).integer("--seed"));
        assertTrue(CLI.parse(new String[] {"--cpu"}).flag("--cpu"));
    }

    @Test
    void helpListsEveryOptionWithItsDefault() {
        String help = CLI.help().replaceAll("\\s+", " "); // unwrapped
        assertTrue(help.startsWith("usage: Prog [options] Does things. "), help);
        for (String line : new String[] {
            "--seed N",
            "random seed (default 1)",
            "steps (default 10; 600 with --large)",
            "(default runs/<date>)",
            "stay on the CPU (default off)",
            "bigger: sets --steps 600",
            "--help"
        }) {
            assertTrue(help.contains(line), "help lacks '" + line + "':\n" + help);
        }
    }

    @Test
    void readAnswersHelpWithExitZeroAndMistakesInOneLine() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CommandLine.Invocation<Long> help = CLI.read(
                new String[] {"--seed", "5", "--help"},
                v -> v.integer("--seed"),
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertFalse(help.proceed());
        assertEquals(0, help.exitCode());
        assertEquals(CLI.help(), out.toString(StandardCharsets.UTF_8));
        assertEquals("", err.toString(StandardCharsets.UTF_8));

        out.reset();
        CommandLine.Invocation<Long> bad = CLI.read(
                new String[] {"--seed", "abc"},
                v -> v.integer("--seed"),
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertFalse(bad.proceed());
        assertEquals(CommandLine.BAD_USAGE, bad.exitCode());
        assertEquals(
                List.of(
                        "Prog: --seed: expected an integer but got 'abc'",
                        "usage: Prog [options]  (--help lists the options and their defaults)"),
                err.toString(StandardCharsets.UTF_8).lines().toList());
        assertEquals("", out.toString(StandardCharsets.UTF_8));

        CommandLine.Invocation<Long> good =
                CLI.read(new String[] {"--seed", "9"}, v -> v.integer("--seed"), System.out, System.err);
        assertTrue(good.proceed());
        assertEquals(9L, good.options());
    }
}
