package io.flashdjl.examples.gpt;

import ai.djl.Device;
import io.flashdjl.Precision;
import io.flashdjl.examples.cli.CommandLine;
import io.flashdjl.examples.cli.Values;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Locale;

/** Command-line options of the GPT example, declared once in {@link #COMMAND_LINE} with their defaults. */
final class GptOptions {

    /** Which attention the decoder blocks use. */
    enum Attention {
        /** flash-djl's FlashAttentionBlock on the AUTO backend: CUDA kernels on a GPU, REFERENCE on the CPU. */
        FLASH,
        /** FlashAttentionBlock on the SDPA backend: PyTorch's fused attention. */
        SDPA,
        /** DJL's own ScaledDotProductAttentionBlock with a causal mask: matmul, softmax, matmul. */
        NAIVE
    }

    static final CommandLine COMMAND_LINE = new CommandLine(
                    "GptExample", "Trains a small decoder-only GPT on multi-digit addition or a UTF-8 text file.")
            .optionWithComputedDefault(
                    "--text", "FILE", "train a character-level model on a UTF-8 text file", "the addition task")
            .option("--digits", "N", "addition task: digits per operand", "3")
            .option("--held-out", "N", "addition task: held-out sums for exact-match accuracy", "500")
            .option("--attention", "A", "flash, sdpa or naive", "flash")
            .optionWithComputedDefault(
                    "--precision",
                    "P",
                    "full or bfloat16: how flash and sdpa attention compute their products on the float32"
                            + " model (bfloat16: bf16 products, float32 accumulation, outputs and gradients)",
                    "bfloat16 for flash on a GPU (its fastest mode), else full")
            .optionWithComputedDefault("--device", "D", "cpu or gpu", "gpu when DJL sees one")
            .option(
                    "--devices",
                    "N",
                    "GPUs to train on, data-parallel (DJL's multi-device trainer; each step's batch is split"
                            + " evenly over gpu(0) .. gpu(N-1))",
                    "1")
            .option("--layers", "N", "decoder layers", "2")
            .option("--embedding", "N", "embedding width, a multiple of --heads", "64")
            .option("--heads", "N", "query heads, a multiple of --kv-heads", "4")
            .option("--kv-heads", "N", "key/value heads", "2")
            .option("--context", "N", "text task: tokens per sequence", "128")
            .option("--steps", "N", "training steps", "2000")
            .option("--batch", "N", "sequences per step", "64")
            .option("--lr", "X", "peak learning rate, decayed by a cosine to a tenth", "0.003")
            .option("--warmup", "N", "linear warm-up steps", "100")
            .option("--clip", "X", "global gradient-norm clip", "1.0")
            .option("--eval-every", "N", "steps between evaluations and checkpoints", "250")
            .option("--seed", "N", "random seed for data and weights", "1")
            .optionWithComputedDefault(
                    "--out",
                    "DIR",
                    "run folder: metrics.csv, loss.png, checkpoint/",
                    "runs/gpt-<task>-<attention>, or with --resume the run folder it continues")
            .optionWithComputedDefault(
                    "--resume",
                    "DIR",
                    "continue from an earlier run: the run folder it printed, or its checkpoint/ folder",
                    "none")
            .preset(
                    "--large",
                    "a larger model, for a GPU",
                    "--layers",
                    "6",
                    "--embedding",
                    "384",
                    "--heads",
                    "6",
                    "--context",
                    "256",
                    "--lr",
                    "0.001",
                    "--steps",
                    "600");

    // the values; their defaults live in COMMAND_LINE
    Path text;
    int digits;
    int heldOut;
    Attention attention;
    /** As asked, or null for the computed default ({@link #precisionOn}). */
    Precision precision;

    String device;
    int devices;
    int layers;
    int embedding;
    int heads;
    int kvHeads;
    int context;
    int steps;
    int batch;
    float learningRate;
    int warmup;
    float clip;
    int evalEvery;
    long seed;
    Path out;
    Path resume;

    /** The precision of the attention products on {@code device}: as asked, else the fastest there. */
    Precision precisionOn(Device device) {
        if (precision != null) {
            return precision;
        }
        return attention == Attention.FLASH && device.isGpu() ? Precision.BFLOAT16 : Precision.FULL;
    }

    /**
     * Reads a command line ({@code --help} is answered by {@link GptExample}'s {@code run}).
     *
     * @throws IllegalArgumentException naming the option that is wrong
     */
    static GptOptions parse(String[] args) {
        return from(COMMAND_LINE.parse(args));
    }

    /** The options from a parsed command line, checked against each other. */
    static GptOptions from(Values v) {
        GptOptions o = new GptOptions();
        o.text = v.path("--text");
        o.digits = v.positiveInt("--digits");
        o.heldOut = v.positiveInt("--held-out");
        o.attention = Attention.valueOf(
                v.choice("--attention", List.of("flash", "sdpa", "naive")).toUpperCase(Locale.ROOT));
        o.precision =
                v.isSet("--precision") ? Precision.parse(v.choice("--precision", List.of("full", "bfloat16"))) : null;
        if (o.attention == Attention.NAIVE && o.precision == Precision.BFLOAT16) {
            throw new IllegalArgumentException(
                    "--precision bfloat16: naive attention computes in the model's float32 (DJL has no bfloat16)");
        }
        o.device = v.isSet("--device") ? v.choice("--device", List.of("cpu", "gpu")) : null;
        o.devices = v.positiveInt("--devices");
        o.layers = v.positiveInt("--layers");
        o.embedding = v.positiveInt("--embedding");
        o.heads = v.positiveInt("--heads");
        o.kvHeads = v.positiveInt("--kv-heads");
        o.context = v.positiveInt("--context");
        o.steps = v.positiveInt("--steps");
        o.batch = v.positiveInt("--batch");
        o.learningRate = (float) v.positiveNumber("--lr");
        o.warmup = v.nonNegativeInt("--warmup");
        o.clip = (float) v.positiveNumber("--clip");
        o.evalEvery = v.positiveInt("--eval-every");
        o.seed = v.integer("--seed");
        o.out = v.path("--out");
        o.resume = v.path("--resume");
        if (o.devices > 1 && "cpu".equals(o.device)) {
            throw new IllegalArgumentException("--devices " + o.devices + " trains on GPUs, but --device is cpu");
        }
        if (o.batch % o.devices != 0) {
            throw new IllegalArgumentException(
                    "--batch " + o.batch + " must be a multiple of --devices " + o.devices + " (an even split)");
        }
        if (o.embedding % o.heads != 0) {
            throw new IllegalArgumentException(
                    "--embedding " + o.embedding + " must be a multiple of --heads " + o.heads);
        }
        if (o.heads % o.kvHeads != 0) {
            throw new IllegalArgumentException("--heads " + o.heads + " must be a multiple of --kv-heads " + o.kvHeads);
        }
        if (o.out == null && o.resume != null) {
            o.out = Checkpoints.runFolder(o.resume); // its metrics.csv and checkpoint go on
        }
        if (o.out == null) {
            o.out = Paths.get(
                    "runs",
                    "gpt-" + (o.text == null ? "addition" : "text") + "-"
                            + o.attention.name().toLowerCase(Locale.ROOT));
        }
        return o;
    }
}
