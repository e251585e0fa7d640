package io.flashdjl.cuda;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Declared by every GPU test class ({@code @ExtendWith(PoisonedOutputs.class)}): while the class
 * runs, the CUDA backend fills every output and gradient with NaN before its kernels run, so an
 * element a kernel fails to write shows up as NaN, which {@code ErrorBudget} never passes. The
 * setting is restored afterwards, so it never leaks into a class that did not ask for it.
 */
final class PoisonedOutputs implements BeforeAllCallback, AfterAllCallback {

    private static final ExtensionContext.Namespace NAMESPACE =
            ExtensionContext.Namespace.create(PoisonedOutputs.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        String previous = System.setProperty(CudaBackend.POISON_PROPERTY, "true");
        context.getStore(NAMESPACE).put("previous", previous == null ? "" : previous);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        String previous = context.getStore(NAMESPACE).get("previous", String.class);
        if (previous == null || previous.isEmpty()) {
            System.clearProperty(CudaBackend.POISON_PROPERTY);
        } else {
            System.setProperty(CudaBackend.POISON_PROPERTY, previous);
        }
    }
}
