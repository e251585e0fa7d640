package io.flashdjl;

import ai.djl.ndarray.NDArray;
import io.flashdjl.spi.AttentionBackend;
import io.flashdjl.spi.AttentionProblem;
import io.flashdjl.training.Autograd;
import io.flashdjl.training.FlashTape;
import java.util.Optional;

/**
 * FlashAttention for DJL: {@code softmax(scale * q k^T + mask) v} without materialising the
 * {@code Nq x Nk} score matrix.
 *
 * <pre>{@code
 * AttentionOptions opts = AttentionOptions.builder().optCausal(true).build();
 * AttentionResult r = FlashAttention.forward(q, k, v, opts);              // r.output(), r.logSumExp()
 * AttentionGradients g = FlashAttention.backward(dOut, q, k, v, r, opts); // g.dq(), g.dk(), g.dv()
 * NDArray o = FlashAttention.attention(q, k, v, opts);                    // inside DJL training
 * }</pre>
 *
 * <p>Shapes (layout BHSD; BSHD swaps the middle two): q {@code [B, Hq, Nq, D]}, k {@code [B, Hkv,
 * Nk, D]}, v {@code [B, Hkv, Nk, Dv]}, with {@code Hq % Hkv == 0} (query head {@code h} uses
 * key/value head {@code h / (Hq / Hkv)}), any {@code Nq, Nk >= 1}. Bad input throws {@link
 * IllegalArgumentException} naming the argument; a backend that cannot take a problem throws
 * {@link UnsupportedOperationException} saying why.
 *
 * <p>Batches of sequences of different lengths pass {@link Sequences}: padded rows with valid lengths, or
 * sequences packed into a batch of one (FlashAttention-2's varlen). Every call of a forward/backward pair takes
 * the same sequences.
 */
public final class FlashAttention {

    private FlashAttention() {}

    /**
     * Forward with the default options (no mask, scale {@code 1/sqrt(D)}, AUTO backend).
     *
     * @param q the queries {@code [B, Hq, Nq, D]}
     * @param k the keys {@code [B, Hkv, Nk, D]}
     * @param v the values {@code [B, Hkv, Nk, Dv]}
     * @return the output and the log-sum-exp
     * @throws IllegalArgumentException naming the argument that does not fit
     * @throws UnsupportedOperationException when the chosen backend cannot take the problem
     */
    public static AttentionResult forward(NDArray q, NDArray k, NDArray v) {
        return forward(q, k, v, AttentionOptions.DEFAULT);
    }

    /**
     * Computes the attention output and the log-sum-exp the backward pass reuses.
     *
     * @param q the queries, {@code [B, Hq, Nq, D]} in BHSD
     * @param k the keys, {@code [B, Hkv, Nk, D]} in BHSD
     * @param v the values, {@code [B, Hkv, Nk, Dv]} in BHSD
     * @param options the mask, scale, backend and layout
     * @return the output and the log-sum-exp
     * @throws IllegalArgumentException naming the argument that does not fit
     * @throws UnsupportedOperationException when the chosen backend cannot take the problem
     */
    public static AttentionResult forward(NDArray q, NDArray k, NDArray v, AttentionOptions options) {
        return forward(q, k, v, null, options);
    }

    /**
     * The forward pass over sequences of different lengths.
     *
     * @param q the queries, {@code [B, Hq, Nq, D]} in BHSD ({@code B = 1} for packed sequences)
     * @param k the keys, {@code [B, Hkv, Nk, D]} in BHSD
     * @param v the values, {@code [B, Hkv, Nk, Dv]} in BHSD
     * @param sequences which rows are tokens; null when all are
     * @param options the mask, scale, backend and layout
     * @return the output and the log-sum-exp (padding query rows: 0 and {@code -inf})
     * @throws IllegalArgumentException naming the argument that does not fit
     * @throws UnsupportedOperationException when the chosen backend cannot take the problem
     */
    public static AttentionResult forward(
            NDArray q, NDArray k, NDArray v, Sequences sequences, AttentionOptions options) {
        return forward(q, k, v, sequences, null, options);
    }

    /**
     * The forward pass with a score bias (SDPA's attn_mask: a boolean keep mask or an additive float bias), over
     * sequences of different lengths or not.
     *
     * @param q the queries, {@code [B, Hq, Nq, D]} in BHSD ({@code B = 1} for packed sequences)
     * @param k the keys, {@code [B, Hkv, Nk, D]} in BHSD
     * @param v the values, {@code [B, Hkv, Nk, Dv]} in BHSD
     * @param sequences which rows are tokens; null when all are
     * @param bias the score bias; null for none
     * @param options the mask, scale, backend and layout
     * @return the output and the log-sum-exp (of the biased scores)
     * @throws IllegalArgumentException naming the argument that does not fit
     * @throws UnsupportedOperationException when the chosen backend cannot take the problem
     */
    public static AttentionResult forward(
            NDArray q, NDArray k, NDArray v, Sequences sequences, AttentionBias bias, AttentionOptions options) {
        AttentionProblem p = AttentionProblem.validate(q, k, v, sequences, bias, options);
        return BackendRegistry.select(p).forward(p);
    }

    /**
     * Computes dq, dk, dv for the output gradient {@code dOut}, reusing the output and the
     * log-sum-exp of {@code forward}. With the AUTO backend the backend that ran the forward pass
     * runs the backward pass too.
     *
     * @param dOut the gradient of the output, with the output's shape and q's dtype and device
     * @param q the queries of the forward call
     * @param k the keys of the forward call
     * @param v the values of the forward call
     * @param forward the result of {@link #forward(NDArray, NDArray, NDArray, AttentionOptions)} on them
     * @param options the options of the forward call
     * @return the gradients, each with the shape, dtype and layout of its input
     * @throws IllegalArgumentException naming the argument that does not fit
     * @throws UnsupportedOperationException when the backend cannot take the problem
     */
    public static AttentionGradients backward(
            NDArray dOut, NDArray q, NDArray k, NDArray v, AttentionResult forward, AttentionOptions options) {
        return backward(dOut, q, k, v, null, forward, options);
    }

    /**
     * The backward pass over sequences of different lengths: padding rows get zero gradients.
     *
     * @param dOut the gradient of the output, with the output's shape and q's dtype and device
     * @param q the queries of the forward call
     * @param k the keys of the forward call
     * @param v the values of the forward call
     * @param sequences the sequences of the forward call
     * @param forward the result of the forward call on them
     * @param options the options of the forward call
     * @return the gradients, each with the shape, dtype and layout of its input
     * @throws IllegalArgumentException naming the argument that does not fit
     * @throws UnsupportedOperationException when the backend cannot take the problem
     */
    public static AttentionGradients backward(
            NDArray dOut,
            NDArray q,
            NDArray k,
            NDArray v,
            Sequences sequences,
            AttentionResult forward,
            AttentionOptions options) {
        return backward(dOut, q, k, v, sequences, null, forward, options);
    }

    /**
     * The backward pass of a call with a score bias: dq, dk, dv, and the bias's gradient when it requires one
     * ({@link AttentionGradients#bias()}).
     *
     * @param dOut the gradient of the output, with the output's shape and q's dtype and device
     * @param q the queries of the forward call
     * @param k the keys of the forward call
     * @param v the values of the forward call
     * @param sequences the sequences of the forward call (null when it had none)
     * @param bias the bias of the forward call, the same instance (null when it had none)
     * @param forward the result of the forward call on them
     * @param options the options of the forward call
     * @return the gradients, each with the shape, dtype and layout of its input
     * @throws IllegalArgumentException naming the argument that does not fit
     * @throws UnsupportedOperationException when the backend cannot take the problem
     */
    public static AttentionGradients backward(
            NDArray dOut,
            NDArray q,
            NDArray k,
            NDArray v,
            Sequences sequences,
            AttentionBias bias,
            AttentionResult forward,
            AttentionOptions options) {
        AttentionProblem p = AttentionProblem.validate(q, k, v, sequences, bias, options);
        p.checkBackwardInputs(dOut, forward);
        Backend kind = options.backend() == Backend.AUTO ? forward.backend() : options.backend();
        AttentionBackend backend = BackendRegistry.require(kind, p);
        return backend.backward(p, dOut, forward);
    }

    /**
     * The attention output alone, for use inside models. Outside training no log-sum-exp is kept for the caller (the
     * CUDA backend writes it into per-thread scratch), so this is the cheaper call for inference.
     *
     * <p>The call is validated and its backend selected once, here. Inside a {@link
     * io.flashdjl.training.FlashGradientCollector} the backend runs outside the engine graph and the
     * call is recorded on the collector's tape with that backend and problem; the tape runs the same
     * backend's backward later. Elsewhere REFERENCE and SDPA are differentiated by the engine's
     * autograd. The CUDA backend's output is not part of the engine graph, so while the engine records
     * (DJL's plain {@code GradientCollector}) AUTO runs SDPA instead (logged once) and an explicit CUDA
     * request fails. (DJL cannot say whether an array is in the graph, so "the engine records" stands
     * for "the inputs require grad".)
     *
     * @param q the queries, {@code [B, Hq, Nq, D]} in BHSD
     * @param k the keys, {@code [B, Hkv, Nk, D]} in BHSD
     * @param v the values, {@code [B, Hkv, Nk, Dv]} in BHSD
     * @param options the mask, scale, backend and layout
     * @return the output, {@code [B, Hq, Nq, Dv]} in BHSD
     * @throws IllegalArgumentException naming the argument that does not fit
     * @throws UnsupportedOperationException when the chosen backend cannot take the problem, or for an
     *     explicit CUDA backend inside DJL's plain gradient collector
     */
    public static NDArray attention(NDArray q, NDArray k, NDArray v, AttentionOptions options) {
        return attention(q, k, v, null, options);
    }

    /**
     * {@link #attention(NDArray, NDArray, NDArray, AttentionOptions)} over sequences of different lengths.
     *
     * @param q the queries, {@code [B, Hq, Nq, D]} in BHSD ({@code B = 1} for packed sequences)
     * @param k the keys, {@code [B, Hkv, Nk, D]} in BHSD
     * @param v the values, {@code [B, Hkv, Nk, Dv]} in BHSD
     * @param sequences which rows are tokens; null when all are
     * @param options the mask, scale, backend and layout
     * @return the output, {@code [B, Hq, Nq, Dv]} in BHSD (padding query rows: 0)
     * @throws IllegalArgumentException naming the argument that does not fit
     * @throws UnsupportedOperationException as the four-argument form
     */
    public static NDArray attention(NDArray q, NDArray k, NDArray v, Sequences sequences, AttentionOptions options) {
        return attention(q, k, v, sequences, null, options);
    }

    /**
     * {@link #attention(NDArray, NDArray, NDArray, AttentionOptions)} with a score bias, over sequences of
     * different lengths or not. A float bias that requires a gradient gets it in training, like q, k and v.
     *
     * @param q the queries, {@code [B, Hq, Nq, D]} in BHSD ({@code B = 1} for packed sequences)
     * @param k the keys, {@code [B, Hkv, Nk, D]} in BHSD
     * @param v the values, {@code [B, Hkv, Nk, Dv]} in BHSD
     * @param sequences which rows are tokens; null when all are
     * @param bias the score bias (SDPA's attn_mask); null for none
     * @param options the mask, scale, backend and layout
     * @return the output, {@code [B, Hq, Nq, Dv]} in BHSD
     * @throws IllegalArgumentException naming the argument that does not fit
     * @throws UnsupportedOperationException as the four-argument form
     */
    public static NDArray attention(
            NDArray q, NDArray k, NDArray v, Sequences sequences, AttentionBias bias, AttentionOptions options) {
        AttentionProblem p = AttentionProblem.validate(q, k, v, sequences, bias, options);
        AttentionBackend backend = BackendRegistry.select(p);
        if (Autograd.isRecording()) {
            Optional<FlashTape> tape = FlashTape.active();
            if (tape.isPresent()) {
                return tape.get().record(backend, p);
            }
            if (backend.kind() == Backend.CUDA) {
                backend = BackendRegistry.differentiableInsteadOfCuda(p);
            }
        }
        return backend.output(p);
    }

    /**
     * {@link #attention(NDArray, NDArray, NDArray, AttentionOptions)} with the default options.
     *
     * @param q the queries {@code [B, Hq, Nq, D]}
     * @param k the keys {@code [B, Hkv, Nk, D]}
     * @param v the values {@code [B, Hkv, Nk, Dv]}
     * @return the output {@code [B, Hq, Nq, Dv]}
     * @throws IllegalArgumentException naming the argument that does not fit
     */
    public static NDArray attention(NDArray q, NDArray k, NDArray v) {
        return attention(q, k, v, AttentionOptions.DEFAULT);
    }

    /**
     * Whether a backend is on the class path and usable on this machine.
     *
     * @param backend the backend to ask about
     * @return empty if it is (always for AUTO), else one line saying why not
     */
    public static Optional<String> unavailableReason(Backend backend) {
        if (backend == Backend.AUTO) {
            return Optional.empty();
        }
        return BackendRegistry.find(backend)
                .map(AttentionBackend::unavailableReason)
                .orElse(Optional.of("no implementation of " + backend + " on the class path"));
    }
}
