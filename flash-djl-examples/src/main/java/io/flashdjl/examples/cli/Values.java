package io.flashdjl.examples.cli;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A parsed command line: each option's given value, else its default. Every typed getter names the
 * option in its error, e.g. {@code --seed: expected an integer but got 'abc'}.
 */
public final class Values {

    private final boolean help;
    private final Map<String, String> given;
    private final Map<String, String> defaults;
    private final Set<String> declared;

    Values(boolean help, Map<String, String> given, Map<String, String> defaults, Set<String> declared) {
        this.help = help;
        this.given = given;
        this.defaults = defaults;
        this.declared = declared;
    }

    /** Whether {@code --help} (or {@code -h}) was given. */
    public boolean helpRequested() {
        return help;
    }

    /** Whether the option was on the command line. */
    public boolean isSet(String name) {
        check(name);
        return given.containsKey(name);
    }

    /** Whether a flag was given. */
    public boolean flag(String name) {
        return isSet(name);
    }

    /** The value given or the default; null for an absent option whose default the program computes. */
    public String text(String name) {
        check(name);
        return given.getOrDefault(name, defaults.get(name));
    }

    /** {@link #text} as a path; null when absent without a default. */
    public Path path(String name) {
        String v = text(name);
        return v == null ? null : Paths.get(v);
    }

    /** A whole number >= 1. */
    public int positiveInt(String name) {
        return intAtLeast(name, 1);
    }

    /** A whole number >= 0. */
    public int nonNegativeInt(String name) {
        return intAtLeast(name, 0);
    }

    /** Any 64-bit integer, negative ones included. */
    public long integer(String name) {
        String v = required(name);
        try {
            return Long.parseLong(v.strip());
        } catch (NumberFormatException e) {
            throw bad(name, "an integer", v);
        }
    }

    /** A finite number > 0. */
    public double positiveNumber(String name) {
        String v = required(name);
        double d;
        try {
            d = Double.parseDouble(v.strip());
        } catch (NumberFormatException e) {
            throw bad(name, "a number > 0", v);
        }
        if (!(d > 0) || Double.isInfinite(d)) {
            throw bad(name, "a number > 0", v);
        }
        return d;
    }

    /** One of {@code allowed}, compared ignoring case; returned in lower case. */
    public String choice(String name, List<String> allowed) {
        String v = required(name);
        String lower = v.strip().toLowerCase(Locale.ROOT);
        if (!allowed.contains(lower)) {
            throw bad(name, alternatives(allowed), v);
        }
        return lower;
    }

    /** A comma-separated list of at least one item, each one of {@code allowed}, in lower case. */
    public List<String> list(String name, List<String> allowed) {
        String v = required(name);
        List<String> items = new ArrayList<>();
        for (String s : v.split(",")) {
            String item = s.strip().toLowerCase(Locale.ROOT);
            if (item.isEmpty()) {
                continue;
            }
            if (!allowed.contains(item)) {
                throw new IllegalArgumentException(name + ": expected a comma-separated list of "
                        + alternatives(allowed) + " but got '" + s.strip() + "' in '" + v + "'");
            }
            items.add(item);
        }
        if (items.isEmpty()) {
            throw bad(name, "a comma-separated list of " + alternatives(allowed), v);
        }
        return items;
    }

    private int intAtLeast(String name, int min) {
        String v = required(name);
        String expected = "a whole number >= " + min;
        int n;
        try {
            n = Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            throw bad(name, expected, v);
        }
        if (n < min) {
            throw bad(name, expected, v);
        }
        return n;
    }

    private String required(String name) {
        String v = text(name);
        if (v == null) {
            throw new IllegalStateException(name + " has no value and no default: check isSet first");
        }
        return v;
    }

    private void check(String name) {
        if (!declared.contains(name)) {
            throw new IllegalStateException(name + " is not a declared option");
        }
    }

    static String alternatives(List<String> allowed) {
        if (allowed.size() == 1) {
            return allowed.get(0);
        }
        return String.join(", ", allowed.subList(0, allowed.size() - 1)) + " or " + allowed.get(allowed.size() - 1);
    }

    private static IllegalArgumentException bad(String name, String expected, String actual) {
        return new IllegalArgumentException(name + ": expected " + expected + " but got '" + actual + "'");
    }
}
