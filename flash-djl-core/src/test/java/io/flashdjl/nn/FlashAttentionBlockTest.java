package io.flashdjl.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.ParameterList;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.flashdjl.AttentionOptions;
import io.flashdjl.Backend;
import io.flashdjl.spi.Visibility;
import io.flashdjl.testing.ErrorBudget;
import io.flashdjl.testing.TestSeed;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Drop-in compatibility with DJL's ScaledDotProductAttentionBlock, and bad input. */
@ExtendWith(TestSeed.class)
class FlashAttentionBlockTest {

    static final int E = 16;
    static final int HEADS = 4;

    @Test
    void parametersSavedByDjlLoadIntoFlashAndBack() throws Exception {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape in = new Shape(2, 5, E);
            Block djl = djlBlock();
            Block flash = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .optBackend(Backend.REFERENCE)
                    .build();
            Block flash2 = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .build();
            Block djl2 = djlBlock();
            copyThroughModelFiles(djl, flash, manager, in);
            copyThroughModelFiles(flash, djl2, manager, in);
            copyThroughModelFiles(djl2, flash2, manager, in);
            NDList[] variants = inputVariants(manager);
            NDArray[][] outputs = new NDArray[variants.length][];
            for (int i = 0; i < variants.length; i++) {
                NDList inputs = variants[i];
                outputs[i] =
                        new NDArray[] {run(djl, inputs), run(flash, inputs), run(djl2, inputs), run(flash2, inputs)};
            }
            // the truth: DJL's block with the same parameters in float64
            Block djl64 = float64Twin(djl, djlBlock());
            for (int i = 0; i < variants.length; i++) {
                NDArray truth = run(djl64, float64(variants[i]));
                String what = variants[i].size() + " inputs, ";
                NDArray expected = outputs[i][0];
                assertClose(expected, outputs[i][1], truth, what + "DJL -> flash");
                assertClose(expected, outputs[i][2], truth, what + "flash -> DJL");
                assertClose(expected, outputs[i][3], truth, what + "AUTO backend");
            }
        }
    }

    /**
     * Under DJL's own gradient collector (what {@code EasyTrain} uses) every parameter gets the gradient of DJL's
     * block with the same parameters, whether the sequence fits in one REFERENCE tile (5, 64) or not (70): a single
     * tile once left the output outside the autograd graph, and the projections got no gradient at all.
     */
    @Test
    void trainsUnderDjlsOwnCollectorAtEveryLength() {
        for (int seq : new int[] {5, 64, 70}) {
            try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
                Shape in = new Shape(2, seq, E);
                Block djl = djlBlock();
                djl.initialize(manager, DataType.FLOAT32, in);
                Block djl64 = float64Twin(djl, djlBlock());
                Block flash64 = float64Twin(
                        djl,
                        FlashAttentionBlock.builder()
                                .setEmbeddingSize(E)
                                .setHeadCount(HEADS)
                                .optBackend(Backend.REFERENCE)
                                .build());
                NDArray x = manager.randomNormal(in).toType(DataType.FLOAT64, false);
                NDArray weights = manager.randomNormal(in).toType(DataType.FLOAT64, false);
                NDArray[] want = gradientsUnderEngineCollector(djl64, x, weights);
                NDArray[] got = gradientsUnderEngineCollector(flash64, x, weights);
                double magnitude = ErrorBudget.magnitude(want);
                for (int i = 0; i < want.length; i++) {
                    String what = "seq " + seq + ", parameter " + i;
                    assertTrue(want[i].abs().max().getDouble() > 0, what + ": DJL's block gives it a gradient");
                    ErrorBudget.check(what, got[i], want[i], want[i], DataType.FLOAT64, magnitude);
                }
            }
        }
    }

    private static NDArray[] gradientsUnderEngineCollector(Block block, NDArray x, NDArray weights) {
        ParameterList params = block.getParameters();
        for (int i = 0; i < params.size(); i++) {
            params.valueAt(i).getArray().setRequiresGradient(true);
        }
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray out = block.forward(new ParameterStore(x.getManager(), false), new NDList(x), true)
                    .head();
            gc.backward(out.mul(weights).sum());
        }
        NDArray[] grads = new NDArray[params.size()];
        for (int i = 0; i < params.size(); i++) {
            grads[i] = params.valueAt(i).getArray().getGradient().duplicate();
        }
        return grads;
    }

    /** DJL's own attention block of this test's size, without dropout (the drop-in's twin). */
    static Block djlBlock() {
        return ScaledDotProductAttentionBlock.builder()
                .setEmbeddingSize(E)
                .setHeadCount(HEADS)
                .optAttentionProbsDropoutProb(0)
                .build();
    }

    /**
     * Writes {@code from}'s parameter file (what {@code Model.save} writes as {@code .params}) and
     * reads it into {@code to}.
     */
    private static void copyThroughModelFiles(Block from, Block to, NDManager manager, Shape in) throws Exception {
        Path file = Files.createTempFile("flash-djl-block", ".params");
        try {
            if (!from.isInitialized()) {
                from.initialize(manager, DataType.FLOAT32, in);
            }
            try (DataOutputStream os = new DataOutputStream(Files.newOutputStream(file))) {
                from.saveParameters(os);
            }
            to.initialize(manager, DataType.FLOAT32, in); // as a user does before loading; then overwritten
            try (DataInputStream is = new DataInputStream(Files.newInputStream(file))) {
                to.loadParameters(manager, is);
                assertEquals(-1, is.read(), "the whole file was read");
            }
        } finally {
            Files.delete(file);
        }
    }

    private static NDList[] inputVariants(NDManager m) {
        NDArray x = m.randomNormal(new Shape(2, 5, E));
        NDArray keys = m.randomNormal(new Shape(2, 7, E));
        NDArray queries = m.randomNormal(new Shape(2, 3, E));
        NDArray values = m.randomNormal(new Shape(2, 7, E));
        NDArray selfMask = m.randomUniform(0, 1, new Shape(2, 5, 5)).gt(0.3).toType(DataType.INT32, false);
        NDArray crossMask = m.randomUniform(0, 1, new Shape(2, 3, 7)).gt(0.3).toType(DataType.FLOAT32, false);
        NDArray offset = m.randomNormal(new Shape(2, 1, 3, 7));
        return new NDList[] {
            new NDList(x),
            new NDList(x, selfMask),
            new NDList(keys, queries, values),
            new NDList(keys, queries, values, crossMask),
            new NDList(keys, queries, values, offset)
        };
    }

    private static NDArray run(Block block, NDList inputs) {
        return block.forward(new ParameterStore(inputs.head().getManager(), false), inputs, false)
                .head();
    }

    /** {@link ErrorBudget}'s rule: {@code expected} is PyTorch's own attention in float32, {@code truth} float64. */
    private static void assertClose(NDArray expected, NDArray actual, NDArray truth, String what) {
        assertEquals(expected.getShape(), actual.getShape(), what);
        assertEquals(DataType.FLOAT64, truth.getDataType(), what + ": the truth is float64");
        ErrorBudget.check(what, actual, expected, truth, DataType.FLOAT32);
    }

    /** Copies {@code from}'s parameter values into {@code to}'s (both initialised, same parameter names). */
    static void copyParameters(Block from, Block to) {
        ParameterList a = from.getParameters();
        ParameterList b = to.getParameters();
        assertEquals(a.keys(), b.keys());
        for (int i = 0; i < a.size(); i++) {
            b.valueAt(i).getArray().set(a.valueAt(i).getArray().toFloatArray());
        }
    }

    /**
     * {@code twin} (not initialised) given {@code source}'s parameters in float64. DJL's Block.cast is not
     * implemented, and its attention block initialises float32 parameters whatever the dtype asked.
     */
    static Block float64Twin(Block source, Block twin) {
        ParameterList from = source.getParameters();
        ParameterList to = twin.getParameters();
        assertEquals(from.keys(), to.keys());
        for (int i = 0; i < from.size(); i++) {
            NDArray value = from.valueAt(i).getArray().toType(DataType.FLOAT64, true);
            to.valueAt(i).setArray(value);
        }
        return twin;
    }

    /** The inputs with their floating-point arrays in float64 (integer masks stay). */
    private static NDList float64(NDList inputs) {
        NDList out = new NDList();
        for (NDArray a : inputs) {
            out.add(a.getDataType().isFloating() ? a.toType(DataType.FLOAT64, false) : a);
        }
        return out;
    }

    /**
     * A grouped-query block refuses, at load, a parameter file written for another number of key/value heads
     * (DJL's own block: one per query head), naming the projection and the option that would load it.
     */
    @Test
    void aParameterFileOfAnotherHeadLayoutIsRefusedAtLoad() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape in = new Shape(2, 5, E);
            FlashAttentionBlock gqa = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .optKvHeadCount(2)
                    .optBackend(Backend.REFERENCE)
                    .build();
            MalformedModelException e = assertThrows(
                    MalformedModelException.class, () -> copyThroughModelFiles(djlBlock(), gqa, manager, in));
            assertEquals(
                    "keyProjection: expected 8 output units (2 key/value heads of 4) but the parameter file has 16;"
                            + " build the block with optKvHeadCount(4) to load it",
                    e.getMessage());
        }
    }

    /** A windowed causal block computes on the flash backend what its materialising path computes. */
    @Test
    void slidingWindowMatchesTheMaterialisingPath() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape in = new Shape(2, 23, E);
            FlashAttentionBlock flash = windowed(false);
            flash.initialize(manager, DataType.FLOAT32, in);
            FlashAttentionBlock naive = windowed(true);
            naive.initialize(manager, DataType.FLOAT32, in);
            copyParameters(flash, naive);
            NDArray x = manager.randomNormal(in);
            NDArray truth = run(float64Twin(flash, windowed(true)), float64(new NDList(x)));
            NDArray unwindowed = run(
                    float64Twin(
                            flash,
                            FlashAttentionBlock.builder()
                                    .setEmbeddingSize(E)
                                    .setHeadCount(HEADS)
                                    .optKvHeadCount(2)
                                    .optCausal(true)
                                    .optNaiveAttention(true)
                                    .build()),
                    float64(new NDList(x)));
            assertTrue(truth.sub(unwindowed).abs().max().getDouble() > 1e-3, "the window changes the output");
            assertClose(run(naive, new NDList(x)), run(flash, new NDList(x)), truth, "window (5, 0), flash vs naive");
        }
    }

    private static FlashAttentionBlock windowed(boolean naive) {
        return FlashAttentionBlock.builder()
                .setEmbeddingSize(E)
                .setHeadCount(HEADS)
                .optKvHeadCount(2)
                .optCausal(true)
                .optSlidingWindow(5, 0)
                .optBackend(Backend.REFERENCE)
                .optNaiveAttention(naive)
                .build();
    }

    /**
     * DJL's key-padding masks (BERT's: every query row of a batch row keeps the same first keys) run on the flash
     * backend as key lengths, and give what DJL's own block gives with the mask; so do the lengths given directly
     * as an int32 [B] mask. Other masks are not taken for padding.
     */
    @Test
    void keyPaddingMasksRunAsKeyLengths() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            int[] lengths = {9, 4, 1};
            Shape in = new Shape(3, 9, E);
            NDArray x = manager.randomNormal(in);
            NDArray keep = manager.arange(0, 9, 1, DataType.INT32)
                    .reshape(1, 1, 9)
                    .lt(manager.create(lengths).reshape(3, 1, 1))
                    .broadcast(3, 9, 9)
                    .toType(DataType.FLOAT32, false);
            assertEquals(
                    List.of(9, 4, 1),
                    toList(KeyPadding.lengthsOf(keep, Visibility.of(AttentionOptions.DEFAULT, 9, 9))
                            .orElseThrow()
                            .toIntArray()),
                    "a key-padding mask is key lengths");
            Block djl = djlBlock();
            djl.initialize(manager, DataType.FLOAT32, in);
            FlashAttentionBlock flash = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .optBackend(Backend.REFERENCE)
                    .build();
            flash.initialize(manager, DataType.FLOAT32, in);
            copyParameters(djl, flash);
            NDArray expected = run(djl, new NDList(x, keep));
            NDArray truth = run(float64Twin(djl, djlBlock()), float64(new NDList(x, keep)));
            assertClose(expected, run(flash, new NDList(x, keep)), truth, "key-padding mask");
            assertClose(expected, run(flash, new NDList(x, manager.create(lengths))), truth, "key lengths given");

            NDArray rows = manager.arange(0, 9, 1, DataType.INT32);
            NDArray causal = rows.reshape(1, 9)
                    .lte(rows.reshape(9, 1))
                    .broadcast(3, 9, 9)
                    .toType(DataType.FLOAT32, false);
            NDArray holes = keep.duplicate();
            holes.set(new NDIndex(":, :, 0"), 0);
            NDArray soft = keep.mul(0.5f);
            NDArray noKeys = keep.duplicate();
            noKeys.set(new NDIndex("2, :, :"), 0);
            Visibility full = Visibility.of(AttentionOptions.DEFAULT, 9, 9);
            for (NDArray other : new NDArray[] {causal, holes, soft, noKeys}) {
                assertTrue(KeyPadding.lengthsOf(other, full).isEmpty(), "not key padding: " + other);
            }
            // for a causal block, the causal mask with key padding is key padding
            Visibility causalBand =
                    Visibility.of(AttentionOptions.builder().optCausal(true).build(), 9, 9);
            assertEquals(
                    List.of(9, 4, 1),
                    toList(KeyPadding.lengthsOf(causal.mul(keep), causalBand)
                            .orElseThrow()
                            .toIntArray()));
            assertTrue(KeyPadding.lengthsOf(holes.mul(causal), causalBand).isEmpty(), "holes are not padding");
        }
    }

    /**
     * Masks that are not key padding reach the flash backend as a score bias with DJL's semantics: a boolean mask
     * when every row keeps a key (a causal mask given to a full block, holes), DJL's own offset as a float bias
     * otherwise (a row without a kept key, values other than 0 and 1), and a 4-dimensional offset as it is. Each
     * gives what DJL's own block gives with the mask.
     */
    @Test
    void otherMasksRunAsAScoreBias() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape in = new Shape(3, 9, E);
            NDArray x = manager.randomNormal(in);
            NDArray rows = manager.arange(0, 9, 1, DataType.INT32);
            NDArray causal = rows.reshape(1, 9)
                    .lte(rows.reshape(9, 1))
                    .broadcast(3, 9, 9)
                    .toType(DataType.FLOAT32, false);
            NDArray holes =
                    manager.randomUniform(0, 1, new Shape(3, 9, 9)).gt(0.3f).toType(DataType.FLOAT32, false);
            holes.set(new NDIndex(":, :, 0"), 1);
            NDArray noKeys = holes.duplicate();
            noKeys.set(new NDIndex("2, 4, :"), 0);
            NDArray soft = holes.mul(0.99999f);
            NDArray offset = manager.randomNormal(new Shape(3, HEADS, 9, 9));
            Visibility full = Visibility.of(AttentionOptions.DEFAULT, 9, 9);
            assertTrue(MaskBias.of(causal, full).isMask(), "a 1/0 mask with a key in every row is boolean");
            assertTrue(MaskBias.of(holes, full).isMask(), "holes: boolean");
            assertFalse(MaskBias.of(noKeys, full).isMask(), "a row without keys: DJL's offset");
            assertFalse(MaskBias.of(soft, full).isMask(), "values other than 0 and 1: DJL's offset");
            Block djl = djlBlock();
            djl.initialize(manager, DataType.FLOAT32, in);
            FlashAttentionBlock flash = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .optBackend(Backend.REFERENCE)
                    .build();
            flash.initialize(manager, DataType.FLOAT32, in);
            copyParameters(djl, flash);
            Block djl64 = float64Twin(djl, djlBlock());
            for (NDArray mask : new NDArray[] {causal, holes, noKeys, soft, offset}) {
                NDArray expected = run(djl, new NDList(x, mask));
                NDArray truth = run(djl64, float64(new NDList(x, mask)));
                assertClose(expected, run(flash, new NDList(x, mask)), truth, "mask " + mask.getShape());
            }
        }
    }

    /**
     * A causal block given a padded GPT's mask (causal and key padding combined) runs it on the flash backend as
     * key lengths and computes what its materialising path computes with that mask.
     */
    @Test
    void causalPaddingMasksRunAsKeyLengths() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape in = new Shape(3, 11, E);
            FlashAttentionBlock flash = causalBlock(false);
            flash.initialize(manager, DataType.FLOAT32, in);
            FlashAttentionBlock naive = causalBlock(true);
            naive.initialize(manager, DataType.FLOAT32, in);
            copyParameters(flash, naive);
            NDArray rows = manager.arange(0, 11, 1, DataType.INT32);
            NDArray mask = rows.reshape(1, 11)
                    .lte(rows.reshape(11, 1))
                    .logicalAnd(rows.reshape(1, 11)
                            .lt(manager.create(new int[] {11, 6, 1}).reshape(3, 1, 1)))
                    .toType(DataType.FLOAT32, false);
            NDArray x = manager.randomNormal(in);
            NDArray truth = run(float64Twin(flash, causalBlock(true)), float64(new NDList(x, mask)));
            assertClose(
                    run(naive, new NDList(x, mask)), run(flash, new NDList(x, mask)), truth, "causal + key padding");
        }
    }

    /** A decoder block given [x, key lengths] computes what its materialising twin computes with the same mask. */
    @Test
    void decoderBlockTakesAMask() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape in = new Shape(2, 9, E);
            Block flash = decoder(false);
            flash.initialize(manager, DataType.FLOAT32, in);
            Block naive = decoder(true);
            naive.initialize(manager, DataType.FLOAT32, in);
            copyParameters(flash, naive);
            NDArray x = manager.randomNormal(in);
            NDArray lengths = manager.create(new int[] {9, 5});
            Block exact = decoder(true); // LayerNorm needs initialising: the float64 twin copies values instead
            exact.initialize(manager, DataType.FLOAT64, in);
            ParameterList from = flash.getParameters();
            ParameterList to = exact.getParameters();
            for (int i = 0; i < from.size(); i++) {
                NDArray target = to.valueAt(i).getArray();
                target.set(from.valueAt(i)
                        .getArray()
                        .toType(DataType.FLOAT64, true)
                        .toByteBuffer());
            }
            NDArray truth = run(exact, float64(new NDList(x, lengths)));
            NDArray unmasked = run(exact, float64(new NDList(x)));
            assertTrue(truth.sub(unmasked).abs().max().getDouble() > 1e-3, "the mask changes the output");
            assertClose(run(naive, new NDList(x, lengths)), run(flash, new NDList(x, lengths)), truth, "decoder");
        }
    }

    /** The decoder block's attention dropout applies in training only, with new bits each call. */
    @Test
    void decoderAttentionDropoutAppliesInTrainingOnly() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape in = new Shape(2, 9, E);
            Block b = TransformerDecoderBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .setHiddenSize(2 * E)
                    .optBackend(Backend.REFERENCE)
                    .optAttentionProbsDropoutProb(0.3f)
                    .build();
            b.initialize(manager, DataType.FLOAT32, in);
            NDList x = new NDList(manager.randomNormal(in));
            ParameterStore ps = new ParameterStore(manager, false);
            NDArray inference = b.forward(ps, x, false).head();
            assertEquals(
                    0, inference.sub(b.forward(ps, x, false).head()).abs().max().getFloat(), "inference");
            NDArray first = b.forward(ps, x, true).head();
            NDArray second = b.forward(ps, x, true).head();
            assertTrue(first.sub(inference).abs().max().getFloat() > 1e-3, "training drops");
            assertTrue(first.sub(second).abs().max().getFloat() > 1e-3, "each call draws new bits");
        }
    }

    private static Block decoder(boolean naive) {
        return TransformerDecoderBlock.builder()
                .setEmbeddingSize(E)
                .setHeadCount(HEADS)
                .setHiddenSize(2 * E)
                .optBackend(Backend.REFERENCE)
                .optNaiveAttention(naive)
                .build();
    }

    private static FlashAttentionBlock causalBlock(boolean naive) {
        return FlashAttentionBlock.builder()
                .setEmbeddingSize(E)
                .setHeadCount(HEADS)
                .optCausal(true)
                .optBackend(Backend.REFERENCE)
                .optNaiveAttention(naive)
                .build();
    }

    private static List<Integer> toList(int[] a) {
        return java.util.Arrays.stream(a).boxed().collect(java.util.stream.Collectors.toList());
    }

    @Test
    void groupedQueryProjectionsAreSmaller() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            FlashAttentionBlock b = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .optKvHeadCount(2)
                    .optCausal(true)
                    .optBackend(Backend.REFERENCE)
                    .build();
            b.initialize(manager, DataType.FLOAT32, new Shape(2, 5, E));
            assertEquals(
                    new Shape(8, E),
                    b.getKeyProjection()
                            .getParameters()
                            .get("weight")
                            .getArray()
                            .getShape());
            assertEquals(
                    new Shape(8, E),
                    b.getValueProjection()
                            .getParameters()
                            .get("weight")
                            .getArray()
                            .getShape());
            assertEquals(
                    new Shape(E, E),
                    b.getQueryProjection()
                            .getParameters()
                            .get("weight")
                            .getArray()
                            .getShape());
            NDArray x = manager.randomNormal(new Shape(2, 5, E));
            NDArray ones = manager.ones(new Shape(2, 5, 5));
            // the flash path keeps the rule against the materialising path with an all-ones mask
            FlashAttentionBlock naive = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .optKvHeadCount(2)
                    .optCausal(true)
                    .optNaiveAttention(true)
                    .build();
            naive.initialize(manager, DataType.FLOAT32, new Shape(2, 5, E));
            copyParameters(b, naive);
            NDArray masked = run(naive, new NDList(x, ones));
            NDArray flash = run(b, new NDList(x));
            Block b64 = float64Twin(
                    b,
                    FlashAttentionBlock.builder()
                            .setEmbeddingSize(E)
                            .setHeadCount(HEADS)
                            .optKvHeadCount(2)
                            .optCausal(true)
                            .optBackend(Backend.REFERENCE)
                            .build());
            NDArray truth = run(b64, float64(new NDList(x, ones)));
            assertClose(masked, flash, truth, "GQA causal, flash vs masked path");
        }
    }

    @Test
    void badInputsNameTheArgument() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            FlashAttentionBlock b = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .build();
            b.initialize(manager, DataType.FLOAT32, new Shape(2, 5, E));
            NDArray x = manager.randomNormal(new Shape(2, 5, E));
            expect(
                    "embeddings: expected 3 dimensions",
                    () -> run(b, new NDList(manager.randomNormal(new Shape(10, E)))));
            expect(
                    "embeddings: expected embedding size 16",
                    () -> run(b, new NDList(manager.randomNormal(new Shape(2, 5, 8)))));
            expect(
                    "queries: expected embedding size 16",
                    () -> run(b, new NDList(x, manager.randomNormal(new Shape(2, 5, 12)), x)));
            expect("mask: expected shape (2, 5, 5)", () -> run(b, new NDList(x, manager.ones(new Shape(2, 5, 4)))));
            expect(
                    "mask: expected an additive offset",
                    () -> run(b, new NDList(x, manager.ones(new Shape(2, 3, 5, 5)))));
            expect("mask: expected shape", () -> run(b, new NDList(x, manager.ones(new Shape(50)))));
            expect(
                    "values: expected the sequence length 5",
                    () -> run(b, new NDList(x, x, manager.randomNormal(new Shape(2, 6, E)))));
            expect("inputs: expected 1 to 4", () -> run(b, new NDList(x, x, x, x, x)));
            expect(
                    "optKvHeadCount",
                    () -> FlashAttentionBlock.builder()
                            .setEmbeddingSize(E)
                            .setHeadCount(4)
                            .optKvHeadCount(3)
                            .build());
            expect(
                    "setHeadCount",
                    () -> FlashAttentionBlock.builder()
                            .setEmbeddingSize(E)
                            .setHeadCount(5)
                            .build());
        }
    }

    private static void expect(String start, Runnable r) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().startsWith(start), "message: " + e.getMessage());
        if (e.getMessage().contains("but got")) {
            return;
        }
        throw new AssertionError("message names no actual value: " + e.getMessage());
    }

    /**
     * Attention dropout applies in training only, on the flash backend with flash-djl's generator: each training
     * call draws new bits (its own offset), inference is exactly the dropout-free block.
     */
    @Test
    void attentionDropoutAppliesInTrainingOnly() {
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Shape in = new Shape(2, 9, E);
            FlashAttentionBlock b = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .optBackend(Backend.REFERENCE)
                    .optAttentionProbsDropoutProb(0.25f)
                    .build();
            b.initialize(manager, DataType.FLOAT32, in);
            FlashAttentionBlock plain = FlashAttentionBlock.builder()
                    .setEmbeddingSize(E)
                    .setHeadCount(HEADS)
                    .optBackend(Backend.REFERENCE)
                    .build();
            plain.initialize(manager, DataType.FLOAT32, in);
            copyParameters(b, plain);
            NDList x = new NDList(manager.randomNormal(in));
            ParameterStore ps = new ParameterStore(manager, false);
            NDArray inference = b.forward(ps, x, false).head();
            assertEquals(
                    0,
                    inference
                            .sub(plain.forward(ps, x, false).head())
                            .abs()
                            .max()
                            .getFloat(),
                    "inference");
            NDArray first = b.forward(ps, x, true).head();
            NDArray second = b.forward(ps, x, true).head();
            assertTrue(first.sub(inference).abs().max().getFloat() > 1e-3, "training drops");
            assertTrue(first.sub(second).abs().max().getFloat() > 1e-3, "each call draws new bits");
        }
    }
}
