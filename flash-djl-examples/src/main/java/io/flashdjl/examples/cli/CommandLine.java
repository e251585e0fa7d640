package io.flashdjl.examples.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The options a program accepts, each declared once with its value, help and default: {@link #parse}
 * reads a command line against them, {@link #help} lists them, and {@link #read} does both the way
 * every example's {@code main} needs (help to stdout with exit 0, a mistake as one line with a usage
 * hint and exit 2).
 *
 * <pre>
 * static final CommandLine CLI = new CommandLine("Demo", "Runs the demo.")
 *         .option("--seq", "N", "sequence length", "384")
 *         .flag("--cpu", "stay on the CPU");
 * Values v = CLI.parse(args);
 * int seq = v.positiveInt("--seq"); // "--seq: expected a whole number &gt;= 1 but got 'x'"
 * </pre>
 */
public final class CommandLine {

    /** The exit code after a bad command line (0 after {@code --help}). */
    public static final int BAD_USAGE = 2;

    private static final String HELP = "--help";
    private static final int HELP_COLUMN = 24;
    private static final int HELP_WIDTH = 100;

    /** One declared option. */
    static final class Option {
        final String name;
        final String value; // null for a flag
        final String help;
        final String defaultValue; // parsed like a given value when the option is absent; may be null
        final String defaultDescription; // shown in the help when the default is computed at run time
        final Map<String, String> preset; // a flag's defaults for other options

        Option(
                String name,
                String value,
                String help,
                String defaultValue,
                String defaultDescription,
                Map<String, String> preset) {
            this.name = name;
            this.value = value;
            this.help = help;
            this.defaultValue = defaultValue;
            this.defaultDescription = defaultDescription;
            this.preset = preset;
        }

        boolean isFlag() {
            return value == null;
        }
    }

    /** The options a program was run with, or the exit code to stop with: see {@link #read}. */
    public static final class Invocation<T> {
        private final T options;
        private final int exitCode;

        Invocation(T options, int exitCode) {
            this.options = options;
            this.exitCode = exitCode;
        }

        /** Whether the program should run: false after {@code --help} or a mistake. */
        public boolean proceed() {
            return options != null;
        }

        /** The program's options; only when {@link #proceed}. */
        public T options() {
            return options;
        }

        /** 0 after {@code --help}, {@link #BAD_USAGE} after a mistake. */
        public int exitCode() {
            return exitCode;
        }
    }

    private final String program;
    private final String summary;
    private final Map<String, Option> options = new LinkedHashMap<>();

    /**
     * @param program the name the usage line shows
     * @param summary one sentence on what the program does
     */
    public CommandLine(String program, String summary) {
        this.program = program;
        this.summary = summary;
    }

    /** An option with a value and a fixed default, which is parsed like a given value when absent. */
    public CommandLine option(String name, String value, String help, String defaultValue) {
        return add(new Option(name, value, help, defaultValue, null, Map.of()));
    }

    /**
     * An option whose default the program computes when it is absent ({@link Values#isSet} is false):
     * {@code defaultDescription} says how, in the help.
     */
    public CommandLine optionWithComputedDefault(String name, String value, String help, String defaultDescription) {
        return add(new Option(name, value, help, null, defaultDescription, Map.of()));
    }

    /** An on/off option, off by default. */
    public CommandLine flag(String name, String help) {
        return add(new Option(name, null, help, null, null, Map.of()));
    }

    /**
     * A flag that changes the defaults of other options, given as name, value, name, value, ...;
     * options given on the command line still win, wherever they stand.
     */
    public CommandLine preset(String name, String help, String... namesAndValues) {
        if (namesAndValues.length % 2 != 0) {
            throw new IllegalStateException(name + ": expected option names and values in pairs");
        }
        Map<String, String> defaults = new LinkedHashMap<>();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            defaults.put(namesAndValues[i], namesAndValues[i + 1]);
        }
        for (String other : defaults.keySet()) {
            Option o = options.get(other);
            if (o == null || o.isFlag()) {
                throw new IllegalStateException(name + " presets " + other + ", which is not an option with a value");
            }
        }
        return add(new Option(name, null, help, null, null, defaults));
    }

    private CommandLine add(Option o) {
        if (!o.name.startsWith("--") || o.name.equals(HELP) || options.containsKey(o.name)) {
            throw new IllegalStateException("bad or repeated option name " + o.name);
        }
        options.put(o.name, o);
        return this;
    }

    /**
     * Reads a command line: {@code --name value}, {@code --name=value} or {@code --flag}.
     *
     * @throws IllegalArgumentException naming the option, for an unknown option or a missing value
     */
    public Values parse(String[] args) {
        Map<String, String> given = new LinkedHashMap<>();
        boolean help = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals(HELP) || arg.equals("-h")) {
                help = true;
                continue;
            }
            int eq = arg.indexOf('=');
            String name = arg.startsWith("--") && eq > 0 ? arg.substring(0, eq) : arg;
            Option o = options.get(name);
            if (o == null) {
                throw new IllegalArgumentException(
                        arg.startsWith("-") ? "unknown option " + name : "unexpected argument '" + arg + "'");
            }
            if (o.isFlag()) {
                if (eq > 0) {
                    throw new IllegalArgumentException(
                            name + ": takes no value but got '" + arg.substring(eq + 1) + "'");
                }
                given.put(name, "true");
            } else if (eq > 0) {
                given.put(name, arg.substring(eq + 1));
            } else if (i + 1 < args.length) {
                given.put(name, args[++i]);
            } else {
                throw new IllegalArgumentException(name + ": expected a value " + o.value + " but got none");
            }
        }
        Map<String, String> defaults = new LinkedHashMap<>();
        for (Option o : options.values()) {
            if (o.defaultValue != null) {
                defaults.put(o.name, o.defaultValue);
            }
        }
        for (Option o : options.values()) {
            if (given.containsKey(o.name)) {
                defaults.putAll(o.preset);
            }
        }
        return new Values(help, given, defaults, options.keySet());
    }

    /**
     * Parses {@code args} and turns them into the program's options with {@code reader}, whose
     * {@link IllegalArgumentException}s count as mistakes on the command line too. After
     * {@code --help} prints the help to {@code out}; after a mistake prints it in one line and a
     * usage hint to {@code err}; in both cases the invocation does not proceed.
     */
    public <T> Invocation<T> read(String[] args, Function<Values, T> reader, PrintStream out, PrintStream err) {
        try {
            Values values = parse(args);
            if (values.helpRequested()) {
                out.print(help());
                return new Invocation<>(null, 0);
            }
            return new Invocation<>(reader.apply(values), 0);
        } catch (IllegalArgumentException e) {
            err.println(program + ": " + e.getMessage());
            err.println(usageLine() + "  (" + HELP + " lists the options and their defaults)");
            return new Invocation<>(null, BAD_USAGE);
        }
    }

    /** The usage line. */
    public String usageLine() {
        return "usage: " + program + " [options]";
    }

    /** The help: usage line, summary, then every option with its default. */
    public String help() {
        StringBuilder s = new StringBuilder(usageLine()).append('\n');
        wrap(s, summary, 0);
        s.append('\n');
        List<Option> all = new ArrayList<>(options.values());
        all.add(new Option(HELP, null, "print this help and exit", null, null, Map.of()));
        for (Option o : all) {
            String left = "  " + o.name + (o.isFlag() ? "" : " " + o.value);
            String text = o.help + (o.name.equals(HELP) ? "" : defaultText(o));
            s.append(left);
            int column = left.length();
            if (column > HELP_COLUMN - 2) {
                s.append('\n');
                column = 0;
            }
            s.append(" ".repeat(HELP_COLUMN - column));
            wrap(s, text, HELP_COLUMN);
        }
        return s.toString();
    }

    private String defaultText(Option o) {
        if (!o.preset.isEmpty()) {
            StringBuilder s = new StringBuilder(": sets");
            o.preset.forEach((k, v) -> s.append(' ').append(k).append(' ').append(v));
            return s.toString();
        }
        if (o.isFlag()) {
            return " (default off)";
        }
        String d = o.defaultValue != null ? o.defaultValue : o.defaultDescription;
        StringBuilder s = new StringBuilder(" (default " + d);
        for (Option p : options.values()) {
            if (p.preset.containsKey(o.name)) {
                s.append("; ").append(p.preset.get(o.name)).append(" with ").append(p.name);
            }
        }
        return s.append(')').toString();
    }

    /** Appends {@code text} wrapped to the help width, continuation lines indented by {@code indent}. */
    private static void wrap(StringBuilder s, String text, int indent) {
        int width = HELP_WIDTH - indent;
        int lineLength = 0;
        for (String word : text.split(" ")) {
            if (lineLength > 0 && lineLength + 1 + word.length() > width) {
                s.append('\n').append(" ".repeat(indent));
                lineLength = 0;
            } else if (lineLength > 0) {
                s.append(' ');
                lineLength++;
            }
            s.append(word);
            lineLength += word.length();
        }
        s.append('\n');
    }
}
