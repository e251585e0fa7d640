package io.flashdjl.sdpa;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import io.flashdjl.AttentionBias;
import io.flashdjl.AttentionGradients;
import io.flashdjl.AttentionResult;
import io.flashdjl.Backend;
import io.flashdjl.spi.AttentionBackend;
import io.flashdjl.spi.AttentionProblem;
import io.flashdjl.spi.BatchVisibility;
import io.flashdjl.spi.TorchScriptArchive;
import io.flashdjl.spi.TorchScriptModules;
import java.util.Optional;

/**
 * PyTorch's {@code torch.scaled_dot_product_attention} run through the DJL PyTorch engine, from a
 * TorchScript module this project generates ({@link SdpaModuleSource}, {@link TorchScriptArchive}):
 * the yardstick the other backends are measured against.
 *
 * <p>The forward runs the module with autograd on when the calling thread has it on (inside a DJL
 * {@code GradientCollector}), so {@code FlashAttention.attention} with this backend is
 * differentiated by the engine. The backward recomputes the forward on detached copies of q, k,
 * v and back-propagates {@code dOut} through it with the engine's autograd; it does not reuse the
 * forward result.
 */
public final class SdpaBackend implements AttentionBackend {

    private static final String ENGINE = "PyTorch";

    /** Public for {@link java.util.ServiceLoader}, which creates the one instance the library uses. */
    public SdpaBackend() {}

    @Override
    public Backend kind() {
        return Backend.SDPA;
    }

    @Override
    public Optional<String> unavailableReason() {
        return Engine.hasEngine(ENGINE)
                ? Optional.empty()
                : Optional.of("the DJL PyTorch engine is not on the class path");
    }

    @Override
    public Optional<String> unsupportedReason(AttentionProblem p) {
        if (p.options().dropoutRate() > 0) {
            return Optional.of("SDPA draws dropout from PyTorch's generator; flash-djl's dropout bits"
                    + " (spi.DropoutBits) run on the CUDA and REFERENCE backends");
        }
        for (NDArray a : new NDArray[] {p.q(), p.k(), p.v()}) {
            if (!(a instanceof PtNDArray)) {
                return Optional.of("SDPA runs on the PyTorch engine only, but got an array of the "
                        + a.getManager().getEngine().getEngineName() + " engine");
            }
        }
        return Optional.empty();
    }

    @Override
    public AttentionResult forward(AttentionProblem p) {
        NDArray output;
        NDArray lse;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDList r = run(
                    p, p.q(), p.k(), p.v(), p.bias().map(AttentionBias::values).orElse(null));
            output = p.fromBhsd(r.get(0));
            lse = r.get(1);
            NDScope.unregister(output, lse);
        }
        return new AttentionResult(output, lse, Backend.SDPA);
    }

    /**
     * Back-propagates {@code dOut} through a fresh forward on detached copies of q, k, v. It uses
     * the engine's autograd directly ({@code JniUtils.backward}) rather than a {@code
     * GradientCollector}: DJL allows one collector per JVM at a time, and this backward must also
     * run inside the caller's own collector (the project's training tape calls it there). The
     * graph it builds holds only the copies, so the caller's arrays and gradients are untouched.
     */
    @Override
    public AttentionGradients backward(AttentionProblem p, NDArray dOut, AttentionResult forward) {
        NDArray dq;
        NDArray dk;
        NDArray dv;
        NDArray dBias = null;
        boolean gradMode = JniUtils.isGradMode();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray q = leaf(p.q());
            NDArray k = leaf(p.k());
            NDArray v = leaf(p.v());
            boolean biasGradient = p.bias().map(AttentionBias::requiresGradient).orElse(false);
            NDArray bias = p.bias()
                    .map(b -> biasGradient ? leaf(b.values()) : b.values())
                    .orElse(null);
            JniUtils.setGradMode(true);
            NDArray out = p.fromBhsd(run(p, q, k, v, bias).get(0));
            JniUtils.backward((PtNDArray) out, (PtNDArray) dOut, false, false);
            dq = q.getGradient();
            dk = k.getGradient();
            dv = v.getGradient();
            NDScope.unregister(dq, dk, dv);
            if (biasGradient) {
                dBias = bias.getGradient();
                NDScope.unregister(dBias);
            }
        } finally {
            JniUtils.setGradMode(gradMode);
        }
        for (NDArray g : new NDArray[] {dk, dv, dBias}) {
            if (g != null && g.getManager() != dq.getManager()) {
                g.attach(dq.getManager()); // every result lives in q's manager
            }
        }
        return new AttentionGradients(dq, dk, dv, dBias, Backend.SDPA);
    }

    /**
     * Runs the module on q, k, v (in the problem's layout), unless the band is full the problem's visibility
     * mask, and the bias values (rank 4) when the problem has a bias; returns its output (BHSD) and log-sum-exp,
     * both in q's manager.
     *
     * <p>Always in DJL's "training" call mode, where autograd follows the thread's grad mode. DJL's
     * inference mode would make the outputs inference tensors (unusable in a later autograd graph),
     * let the graph executor specialise the module under InferenceMode (its constants then broke a
     * later differentiable call: "Inference tensors cannot be saved for backward", seen after ~60
     * calls), and may run on a separate CUDA stream, unordered with the CUDA backend's kernels.
     */
    private NDList run(AttentionProblem p, NDArray q, NDArray k, NDArray v, NDArray bias) {
        BatchVisibility visibility = p.batchVisibility();
        SdpaModuleSource source = SdpaModuleSource.of(p, visibility);
        PtSymbolBlock module =
                TorchScriptModules.get(p.device(), SdpaModuleSource.CLASS_NAME, source.code(), "SDPA " + source);
        NDList inputs = new NDList(
                visibility.tokensOnly(unnamed(p.toBhsd(q)), true),
                visibility.tokensOnly(unnamed(p.toBhsd(k)), false),
                visibility.tokensOnly(unnamed(p.toBhsd(v)), false));
        if (source.band().takesMask()) {
            NDArray mask = visibility.visibleMask(q.getManager(), p.device(), 0, p.seqQ(), 0, p.seqK());
            inputs.add(mask.expandDims(1)); // [R, 1, Nq, Nk]
        }
        if (bias != null) {
            inputs.add(bias.reshape(p.bias().get().shape4())); // [Bb, Hb, Rb, Nk]; a view, in the graph
        }
        return IValueUtils.forward(module, inputs, true);
    }

    /**
     * A view of {@code a} without a name: DJL reads names of module inputs as structure (a name
     * with a dot makes a dict), so a caller's named array must not be passed as is.
     */
    private static NDArray unnamed(NDArray a) {
        return a.getName() == null ? a : a.reshape(a.getShape());
    }

    /** A new autograd leaf sharing {@code a}'s memory; {@code a} itself is not changed. */
    private static NDArray leaf(NDArray a) {
        NDArray leaf = a.stopGradient();
        leaf.setRequiresGradient(true);
        return leaf;
    }
}
