package io.flashdjl.examples.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.ParameterList;
import ai.djl.training.ParameterStore;
import io.flashdjl.examples.cli.Values;
import io.flashdjl.nn.FlashAttentionBlock;
import io.flashdjl.testing.ErrorBudget;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The BERT example: with DJL's attention block and with FlashAttentionBlock swapped in, the same parameters
 * give the same masked-language-model logits on a padded batch at dropout 0 ({@code ErrorBudget}'s rule, the
 * model in float64 with attention written out as the truth), and both train from the command line.
 */
class BertExampleTest {

    private static BertOptions options(String... args) {
        Values v = BertOptions.COMMAND_LINE.parse(args);
        return BertOptions.from(v);
    }

    @Test
    void flashBlockGivesDjlsLogitsOnPaddedBatches() {
        BertOptions djl = options(
                "--attention",
                "djl",
                "--dropout",
                "0",
                "--sequence",
                "40",
                "--layers",
                "2",
                "--embedding",
                "32",
                "--heads",
                "4");
        BertOptions flash = options(
                "--attention",
                "flash",
                "--dropout",
                "0",
                "--sequence",
                "40",
                "--layers",
                "2",
                "--embedding",
                "32",
                "--heads",
                "4");
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            MlmTask task = MlmTask.read(java.nio.file.Paths.get("../README.md"), 40);
            MlmTask.Batch b = task.training(manager, 6, 40, 0.3, 0.15, new Random(3));
            Engine.getInstance().setRandomSeed(7);
            Block a = BertExample.model(djl, task.vocabularySize());
            a.initialize(
                    manager,
                    DataType.FLOAT32,
                    b.inputs().getShape(),
                    b.attentionMask().getShape());
            Block f = BertExample.model(flash, task.vocabularySize());
            f.initialize(
                    manager,
                    DataType.FLOAT32,
                    b.inputs().getShape(),
                    b.attentionMask().getShape());
            copy(a, f);
            // the truth: the same model in float64 with attention written out (matmul, mask, softmax, matmul);
            // DJL's own block makes float32 parameters whatever the dtype asked
            Block truth = new BertModel(
                    task.vocabularySize(),
                    40,
                    32,
                    2,
                    i -> new EncoderLayer(
                            FlashAttentionBlock.builder()
                                    .setEmbeddingSize(32)
                                    .setHeadCount(4)
                                    .optNaiveAttention(true)
                                    .build(),
                            32,
                            128,
                            0f));
            truth.initialize(
                    manager,
                    DataType.FLOAT64,
                    b.inputs().getShape(),
                    b.attentionMask().getShape());
            copy(a, truth);
            NDList in = new NDList(b.inputs(), b.attentionMask());
            NDArray expected = forward(a, in);
            NDArray ours = forward(f, in);
            NDArray exact =
                    forward(truth, new NDList(b.inputs(), b.attentionMask().toType(DataType.FLOAT64, false)));
            assertEquals(expected.getShape(), ours.getShape());
            ErrorBudget.check("BERT logits, flash vs DJL's block", ours, expected, exact, DataType.FLOAT32);
        }
    }

    private static NDArray forward(Block block, NDList in) {
        return block.forward(new ParameterStore(in.head().getManager(), false), in, false)
                .head();
    }

    /**
     * Copies {@code from}'s parameter values into {@code to}'s, each in the dtype {@code to} holds it in; the
     * names are the same, since the swap keeps them.
     */
    private static void copy(Block from, Block to) {
        ParameterList a = from.getParameters();
        ParameterList b = to.getParameters();
        assertEquals(a.keys(), b.keys(), "the two models have the same parameters");
        for (int i = 0; i < a.size(); i++) {
            NDArray target = b.valueAt(i).getArray();
            target.set(
                    a.valueAt(i).getArray().toType(target.getDataType(), true).toByteBuffer());
        }
    }

    @Test
    void bothAttentionsTrainFromTheCommandLine() {
        for (String attention : new String[] {"djl", "flash"}) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            int code = BertExample.run(
                    new String[] {
                        "--text",
                        "../README.md",
                        "--attention",
                        attention,
                        "--steps",
                        "8",
                        "--eval-every",
                        "8",
                        "--sequence",
                        "32",
                        "--batch",
                        "4",
                        "--embedding",
                        "32",
                        "--layers",
                        "1"
                    },
                    new PrintStream(out, true, StandardCharsets.UTF_8),
                    System.err);
            String printed = out.toString(StandardCharsets.UTF_8);
            assertEquals(0, code, printed);
            assertTrue(printed.contains("step 8: train loss"), printed);
            assertTrue(printed.contains("tokens/s from step 6 on"), printed);
        }
    }

    @Test
    void badOptionsAreNamed() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = BertExample.run(
                new String[] {"--attention", "djl", "--precision", "bfloat16"},
                new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, code);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("--precision bfloat16"), err.toString());
    }
}
