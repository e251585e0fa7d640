package io.flashdjl.examples.gpt;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;

/** Command-line options of the GPT example; {@link #parse} explains every mistake with the usage. */
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

    static final String USAGE = String.join("\n",
            "usage: GptExample [options]",
            "  --text FILE         train a character-level model on a UTF-8 text file (default: the addition task)",
            "  --digits N          addition task: digits per operand (default 3)",
            "  --held-out N        addition task: held-out sums for exact-match accuracy (default 500)",
            "  --attention A       flash | sdpa | naive (default flash)",
            "  --device D          cpu | gpu (default: gpu when DJL sees one)",
            "  --large             a larger model and batch, for a GPU",
            "  --layers N --embedding N --heads N --kv-heads N --context N",
            "  --steps N --batch N --lr X --warmup N --clip X --eval-every N --seed N",
            "  --out DIR           metrics.csv, loss.png and checkpoint/ (default runs/gpt-<task>-<attention>)",
            "  --resume DIR        start from a checkpoint folder written by an earlier run");

    Path text;
    int digits = 3;
    int heldOut = 500;
    Attention attention = Attention.FLASH;
    String device;
    int layers = 2;
    int embedding = 64;
    int heads = 4;
    int kvHeads = 2;
    int context = 128;
    int steps = 2000;
    int batch = 64;
    float learningRate = 3e-3f;
    int warmup = 100;
    float clip = 1.0f;
    int evalEvery = 250;
    long seed = 1;
    Path out;
    Path resume;

    static GptOptions parse(String[] args) {
        GptOptions o = new GptOptions();
        // --large first, so explicit sizes after it still win
        for (String a : args) {
            if (a.equals("--large")) {
                o.layers = 6;
                o.embedding = 384;
                o.heads = 6;
                o.kvHeads = 2;
                o.context = 256;
                o.batch = 64;
                o.learningRate = 1e-3f;
                o.steps = 600;
            }
        }
        for (int i = 0; i < args.length; i++) {
            String name = args[i];
            if (name.equals("--large")) {
                continue;
            }
            if (name.equals("--help") || name.equals("-h")) {
                throw new IllegalArgumentException("help requested");
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("missing value for " + name);
            }
            String v = args[++i];
            switch (name) {
                case "--text": o.text = Paths.get(v); break;
                case "--digits": o.digits = positive(name, v); break;
                case "--held-out": o.heldOut = positive(name, v); break;
                case "--attention": o.attention = attention(v); break;
                case "--device": o.device = device(v); break;
                case "--layers": o.layers = positive(name, v); break;
                case "--embedding": o.embedding = positive(name, v); break;
                case "--heads": o.heads = positive(name, v); break;
                case "--kv-heads": o.kvHeads = positive(name, v); break;
                case "--context": o.context = positive(name, v); break;
                case "--steps": o.steps = positive(name, v); break;
                case "--batch": o.batch = positive(name, v); break;
                case "--lr": o.learningRate = positiveFloat(name, v); break;
                case "--warmup": o.warmup = nonNegative(name, v); break;
                case "--clip": o.clip = positiveFloat(name, v); break;
                case "--eval-every": o.evalEvery = positive(name, v); break;
                case "--seed": o.seed = Long.parseLong(v); break;
                case "--out": o.out = Paths.get(v); break;
                case "--resume": o.resume = Paths.get(v); break;
                default: throw new IllegalArgumentException("unknown option " + name);
            }
        }
        if (o.embedding % o.heads != 0) {
            throw new IllegalArgumentException("--embedding " + o.embedding + " must be a multiple of --heads " + o.heads);
        }
        if (o.heads % o.kvHeads != 0) {
            throw new IllegalArgumentException("--heads " + o.heads + " must be a multiple of --kv-heads " + o.kvHeads);
        }
        if (o.out == null) {
            o.out = Paths.get("runs", "gpt-" + (o.text == null ? "addition" : "text") + "-"
                    + o.attention.name().toLowerCase(Locale.ROOT));
        }
        return o;
    }

    private static Attention attention(String v) {
        try {
            return Attention.valueOf(v.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--attention: expected flash, sdpa or naive but got '" + v + "'");
        }
    }

    private static String device(String v) {
        if (!v.equals("cpu") && !v.equals("gpu")) {
            throw new IllegalArgumentException("--device: expected cpu or gpu but got '" + v + "'");
        }
        return v;
    }

    private static int positive(String name, String v) {
        int n = nonNegative(name, v);
        if (n == 0) {
            throw new IllegalArgumentException(name + ": expected a whole number >= 1 but got " + v);
        }
        return n;
    }

    private static int nonNegative(String name, String v) {
        try {
            int n = Integer.parseInt(v);
            if (n < 0) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + ": expected a whole number >= 0 but got '" + v + "'");
        }
    }

    private static float positiveFloat(String name, String v) {
        try {
            float f = Float.parseFloat(v);
            if (!(f > 0) || Float.isInfinite(f)) {
                throw new NumberFormatException();
            }
            return f;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + ": expected a number > 0 but got '" + v + "'");
        }
    }
}
