package io.flashdjl.build;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Counts one module's tests tagged {@value #TAG} as a GPU run reports them ("tests found"): a parameterized test
 * counts once per invocation. Discovery alone would count a parameterized method once, so the census runs the
 * tagged tests with {@link SkipEverything} installed: argument sources are expanded and nothing else runs, so no GPU
 * and no engine are touched.
 *
 * <p>Usage: {@code GpuTestCensus <test-classes dir> <module name> <census dir>}. Writes {@code <module name>.count}
 * into the census dir, where {@link GpuTestSummary} adds the modules up. A module without test classes writes 0.
 */
public final class GpuTestCensus {

    /** The JUnit tag of the tests that need CUDA. */
    public static final String TAG = "gpu";

    private static final String EXTENSION_SERVICE = "META-INF/services/org.junit.jupiter.api.extension.Extension";

    private GpuTestCensus() {}

    /**
     * Counts and writes one module's census.
     *
     * @param args the test classes directory, the module name and the census directory
     * @throws IOException if the count cannot be written
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 3) {
            throw new IllegalArgumentException(
                    "args: expected <test-classes dir> <module name> <census dir>, got " + args.length + " arguments");
        }
        Path testClasses = Path.of(args[0]);
        long count = Files.isDirectory(testClasses)
                ? count(DiscoverySelectors.selectClasspathRoots(Set.of(testClasses)))
                : 0;
        Path censusDir = Path.of(args[2]);
        Files.createDirectories(censusDir);
        Files.writeString(censusDir.resolve(args[1] + GpuTestSummary.COUNT_SUFFIX), count + "\n");
    }

    /** The number of tagged tests among {@code selectors}, parameterized invocations counted one by one. */
    static long count(List<? extends DiscoverySelector> selectors) throws IOException {
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectors)
                .filters(TagFilter.includeTags(TAG))
                .configurationParameter("junit.jupiter.extensions.autodetection.enabled", "true")
                .build();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        Path services = Files.createTempDirectory("gpu-test-census");
        // SkipEverything is registered only for this launch: its service file lives in a temporary class path
        // entry, never on a test class path where Jupiter could pick it up
        try (URLClassLoader loader = new URLClassLoader(new URL[] {serviceEntry(services)}, previous)) {
            thread.setContextClassLoader(loader);
            LauncherFactory.create().execute(request, summary);
        } finally {
            thread.setContextClassLoader(previous);
            deleteTree(services);
        }
        TestExecutionSummary result = summary.getSummary();
        long ran = result.getTotalFailureCount() + result.getTestsAbortedCount() + result.getContainersAbortedCount();
        if (ran > 0) {
            // something ran instead of being skipped: the count would be wrong, and a GPU test may have run
            throw new IllegalStateException("GPU test census: " + ran + " tests or classes ran and failed or aborted"
                    + " instead of being skipped; first: "
                    + result.getFailures().stream()
                            .findFirst()
                            .map(f -> f.getTestIdentifier().getDisplayName() + ": " + f.getException())
                            .orElse("an aborted class or test"));
        }
        return result.getTestsFoundCount();
    }

    private static URL serviceEntry(Path root) throws IOException {
        Path file = root.resolve(EXTENSION_SERVICE);
        Files.createDirectories(file.getParent());
        Files.writeString(file, SkipEverything.class.getName() + "\n", StandardCharsets.UTF_8);
        return root.toUri().toURL();
    }

    private static void deleteTree(Path root) throws IOException {
        try (var paths = Files.walk(root)) {
            paths.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(path -> {
                try {
                    Files.delete(path);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
