package io.flashdjl.build;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/**
 * Prints the build's closing line about GPU tests: how many exist in the modules built by this build and whether
 * they ran. It adds up the counts that {@link GpuTestCensus} wrote during this build; counts left by an earlier
 * build (a module not built this time) are older than the build's start and are ignored.
 *
 * <p>Usage: {@code GpuTestSummary <census dir> <build start, epoch millis> <excluded test groups>}.
 */
public final class GpuTestSummary {

    /** The file name suffix of a module's count in the census directory. */
    static final String COUNT_SUFFIX = ".count";

    private GpuTestSummary() {}

    /**
     * Prints the summary line.
     *
     * @param args the census directory, the build's start time in epoch milliseconds and the excluded test groups
     *     (Surefire's {@code excludedGroups}; may be empty)
     * @throws IOException if a count cannot be read
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 2 && args.length != 3) {
            throw new IllegalArgumentException("args: expected <census dir> <build start millis> [excluded groups],"
                    + " got " + args.length + " arguments");
        }
        Path censusDir = Path.of(args[0]);
        long buildStart = Long.parseLong(args[1]);
        boolean excluded = args.length == 3
                && Arrays.stream(args[2].split(",")).map(String::trim).anyMatch(GpuTestCensus.TAG::equals);
        System.out.println(line(total(censusDir, buildStart), excluded));
    }

    /** The closing line for {@code total} tagged tests, {@code excluded} from this build or not. */
    static String line(long total, boolean excluded) {
        String tagged = "GPU tests: " + total + " tagged `" + GpuTestCensus.TAG + "`";
        return excluded
                ? tagged + " were not run (no GPU in this build); run them on a CUDA machine:"
                        + " see README 'Testing on a GPU'"
                : tagged + " were included in this build's test run: Surefire's results above say how they ended";
    }

    private static long total(Path censusDir, long buildStart) throws IOException {
        if (!Files.isDirectory(censusDir)) {
            return 0;
        }
        try (Stream<Path> files = Files.list(censusDir)) {
            List<Path> counts = files.filter(f -> f.getFileName().toString().endsWith(COUNT_SUFFIX))
                    .toList();
            long total = 0;
            for (Path count : counts) {
                if (Files.getLastModifiedTime(count).toMillis() >= buildStart) {
                    total += Long.parseLong(Files.readString(count).trim());
                }
            }
            return total;
        }
    }
}
