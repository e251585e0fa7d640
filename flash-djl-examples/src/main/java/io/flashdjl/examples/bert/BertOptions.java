package io.flashdjl.examples.bert;

import io.flashdjl.Precision;
import io.flashdjl.examples.cli.CommandLine;
import io.flashdjl.examples.cli.Values;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** Command-line options of the BERT example, declared once in {@link #COMMAND_LINE} with their defaults. */
final class BertOptions {

    /** Which attention block the encoder layers use. */
    enum Attention {
        /** DJL's own ScaledDotProductAttentionBlock: matmul, mask, softmax, dropout, matmul. */
        DJL,
        /** flash-djl's FlashAttentionBlock, built with the same calls (AUTO backend: CUDA kernels on a GPU). */
        FLASH
    }

    static final CommandLine COMMAND_LINE = new CommandLine(
                    "BertExample",
                    "Trains a small BERT-style encoder (masked-language model) on padded batches of a UTF-8 text"
                            + " file, with DJL's attention block or FlashAttentionBlock swapped in.")
            .option("--text", "FILE", "the UTF-8 text to learn (character level)", "README.md")
            .option("--attention", "A", "djl or flash", "flash")
            .option(
                    "--precision",
                    "P",
                    "flash only: full or bfloat16 (bf16 products, float32 accumulation, outputs and gradients)",
                    "full")
            .optionWithComputedDefault("--device", "D", "cpu or gpu", "gpu when DJL sees one")
            .option("--layers", "N", "encoder layers", "2")
            .option("--embedding", "N", "embedding width, a multiple of --heads", "128")
            .option("--heads", "N", "attention heads", "4")
            .option("--sequence", "N", "positions per row (padded)", "128")
            .option("--padding", "X", "mean fraction of padding per batch, in [0, 0.5)", "0.3")
            .option("--mask-rate", "X", "fraction of tokens masked and predicted", "0.15")
            .option("--dropout", "X", "dropout on attention probabilities and before each residual sum", "0.1")
            .option("--steps", "N", "training steps", "300")
            .option("--batch", "N", "rows per step", "32")
            .option("--lr", "X", "Adam learning rate", "0.001")
            .option("--eval-every", "N", "steps between evaluations", "100")
            .option("--seed", "N", "random seed for data and weights", "1");

    Path text;
    Attention attention;
    Precision precision;
    String device;
    int layers;
    int embedding;
    int heads;
    int sequence;
    double padding;
    double maskRate;
    float dropout;
    int steps;
    int batch;
    float learningRate;
    int evalEvery;
    long seed;

    /** The options from a parsed command line, checked against each other. */
    static BertOptions from(Values v) {
        BertOptions o = new BertOptions();
        o.text = v.path("--text");
        o.attention = Attention.valueOf(
                v.choice("--attention", List.of("djl", "flash")).toUpperCase(Locale.ROOT));
        o.precision = Precision.parse(v.choice("--precision", List.of("full", "bfloat16")));
        if (o.attention == Attention.DJL && o.precision == Precision.BFLOAT16) {
            throw new IllegalArgumentException(
                    "--precision bfloat16: DJL's attention block computes in the model's float32 (DJL has no bfloat16)");
        }
        o.device = v.isSet("--device") ? v.choice("--device", List.of("cpu", "gpu")) : null;
        o.layers = v.positiveInt("--layers");
        o.embedding = v.positiveInt("--embedding");
        o.heads = v.positiveInt("--heads");
        o.sequence = v.positiveInt("--sequence");
        o.padding = fraction(v, "--padding", 0.5);
        o.maskRate = fraction(v, "--mask-rate", 1);
        o.dropout = (float) fraction(v, "--dropout", 1);
        o.steps = v.positiveInt("--steps");
        o.batch = v.positiveInt("--batch");
        o.learningRate = (float) v.positiveNumber("--lr");
        o.evalEvery = v.positiveInt("--eval-every");
        o.seed = v.integer("--seed");
        if (o.embedding % o.heads != 0) {
            throw new IllegalArgumentException(
                    "--embedding " + o.embedding + " must be a multiple of --heads " + o.heads);
        }
        return o;
    }

    private static double fraction(Values v, String name, double below) {
        double x;
        try {
            x = Double.parseDouble(v.text(name).strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    name + ": expected a number in [0, " + below + ") but got " + v.text(name), e);
        }
        if (!(x >= 0 && x < below)) {
            throw new IllegalArgumentException(name + ": expected a number in [0, " + below + ") but got " + x);
        }
        return x;
    }
}
