package io.flashdjl.testing;

import ai.djl.engine.Engine;
import java.util.SplittableRandom;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

/**
 * The one source of randomness of the tests. A test class declares {@code @ExtendWith(TestSeed.class)};
 * before each test (each invocation of a parameterized one) it draws a fresh seed, or takes
 * {@code -Dflashdjl.test.seed=N}, prints {@code seed=N (replay with -Dflashdjl.test.seed=N)}, seeds
 * DJL's engine with it (so {@code manager.randomNormal} and parameter initialisation replay too) and
 * hands the test a {@link SplittableRandom} on that seed when it asks for one as a parameter. A
 * failure names the seed in its message.
 */
public final class TestSeed implements BeforeEachCallback, ParameterResolver, TestExecutionExceptionHandler {

    /** The system property that replays a seed. */
    public static final String PROPERTY = "flashdjl.test.seed";

    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(TestSeed.class);

    @Override
    public void beforeEach(ExtensionContext context) {
        Long fixed = Long.getLong(PROPERTY);
        long seed = fixed != null ? fixed : new SplittableRandom().nextLong();
        context.getStore(NAMESPACE).put("seed", seed);
        System.out.println(context.getDisplayName() + " " + note(seed));
        Engine.getInstance().setRandomSeed(engineSeed(seed));
    }

    /** DJL's engine takes an int seed: the long folded, so that every bit of it counts. */
    public static int engineSeed(long seed) {
        return (int) (seed ^ (seed >>> 32));
    }

    /** The seed of the running test (for a test that needs the number itself, e.g. a program's --seed). */
    public static long seed(ExtensionContext context) {
        return context.getStore(NAMESPACE).get("seed", Long.class);
    }

    private static String note(long seed) {
        return "seed=" + seed + " (replay with -D" + PROPERTY + "=" + seed + ")";
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.getParameter().getType() == SplittableRandom.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        return new SplittableRandom(seed(context));
    }

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
        if (failure instanceof TestAbortedException) {
            throw failure; // a skip is not a failure to replay
        }
        String note = note(seed(context));
        if (failure instanceof AssertionError) {
            AssertionError named = new AssertionFailedError(failure.getMessage() + " [" + note + "]", failure);
            named.setStackTrace(failure.getStackTrace());
            throw named;
        }
        failure.addSuppressed(new Throwable(note));
        throw failure;
    }
}
