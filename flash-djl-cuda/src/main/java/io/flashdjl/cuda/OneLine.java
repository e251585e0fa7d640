package io.flashdjl.cuda;

/**
 * Shortens a multi-line message (JCuda's native-library load failure carries its nested stack traces)
 * to one line, as a backend's unavailable reason must be: its first line and its root cause, the last
 * line that names an exception.
 */
final class OneLine {

    private OneLine() {}

    /** {@code text} in one line; unchanged when it already is one. */
    static String of(String text) {
        String[] lines = text.strip().split("\\R");
        if (lines.length == 1) {
            return lines[0];
        }
        String first = lines[0].strip();
        String cause = null;
        for (String line : lines) {
            String l = line.strip();
            if (!l.startsWith("at ") && l.matches("^[\\w.$]+(Exception|Error): .*")) {
                cause = l.replaceFirst("^java\\.lang\\.", "");
            }
        }
        String joined = cause == null ? first + " ..." : first + " ... " + cause;
        long open = first.chars().filter(c -> c == '(').count();
        long close = first.chars().filter(c -> c == ')').count();
        return open > close ? joined + ")" : joined;
    }
}
