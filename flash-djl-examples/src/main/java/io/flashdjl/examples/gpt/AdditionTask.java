package io.flashdjl.examples.gpt;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * Multi-digit addition, a task whose learning can be checked exactly: {@code "07+35=" } followed
 * by the sum's digits, least significant first ({@code "240"} for 42), the order in which a
 * left-to-right model can carry. Only the answer digits count in the loss. A fixed random set of
 * pairs is held out from training; accuracy is exact match of the greedily decoded answer on it.
 */
final class AdditionTask implements TokenTask {

    static final int PLUS = 10;
    static final int EQUALS = 11;

    private final int digits;
    private final int heldOut;
    private final List<int[]> validation = new ArrayList<>();
    private final Set<Long> validationKeys = new HashSet<>();
    private double lastAccuracy = Double.NaN;

    AdditionTask(int digits, int heldOut, long seed) {
        if (digits < 1 || digits > 6) {
            throw new IllegalArgumentException("--digits: expected 1 to 6 but got " + digits);
        }
        this.digits = digits;
        this.heldOut = heldOut;
        long max = pow10(digits);
        if (heldOut >= max * max / 2) {
            throw new IllegalArgumentException(
                    "--held-out: expected fewer than half of the " + max * max + " possible pairs but got " + heldOut);
        }
        Random r = new Random(seed ^ 0x5eed);
        while (validation.size() < heldOut) {
            long a = (long) (r.nextDouble() * max);
            long b = (long) (r.nextDouble() * max);
            if (validationKeys.add(a * max + b)) {
                validation.add(new int[] {(int) a, (int) b});
            }
        }
    }

    @Override
    public int vocabularySize() {
        return 12;
    }

    /** a (digits) + '+' + b (digits) + '=' + sum (digits + 1), minus the last token (never an input). */
    @Override
    public int sequenceLength() {
        return 3 * digits + 2;
    }

    @Override
    public TokenBatch trainingBatch(NDManager manager, int batchSize, Random random) {
        long max = pow10(digits);
        List<int[]> pairs = new ArrayList<>(batchSize);
        while (pairs.size() < batchSize) {
            long a = (long) (random.nextDouble() * max);
            long b = (long) (random.nextDouble() * max);
            if (!validationKeys.contains(a * max + b)) {
                pairs.add(new int[] {(int) a, (int) b});
            }
        }
        return batch(manager, pairs);
    }

    @Override
    public TokenBatch validationBatch(NDManager manager, int batchSize, Random random) {
        List<int[]> pairs = new ArrayList<>(batchSize);
        for (int i = 0; i < batchSize; i++) {
            pairs.add(validation.get(random.nextInt(validation.size())));
        }
        return batch(manager, pairs);
    }

    private TokenBatch batch(NDManager manager, List<int[]> pairs) {
        int t = sequenceLength();
        float[] in = new float[pairs.size() * t];
        float[] target = new float[pairs.size() * t];
        float[] mask = new float[pairs.size() * t];
        for (int i = 0; i < pairs.size(); i++) {
            int[] seq = sequence(pairs.get(i)[0], pairs.get(i)[1]);
            for (int p = 0; p < t; p++) {
                in[i * t + p] = seq[p];
                target[i * t + p] = seq[p + 1];
                // position p predicts token p + 1: the answer starts after '=' at index 2 * digits + 1
                mask[i * t + p] = p >= 2 * digits + 1 ? 1 : 0;
            }
        }
        Shape shape = new Shape(pairs.size(), t);
        return new TokenBatch(manager.create(in, shape), manager.create(target, shape), manager.create(mask, shape));
    }

    /** The full token sequence of one example, answer included. */
    int[] sequence(int a, int b) {
        int[] s = new int[3 * digits + 3];
        int p = 0;
        p = writeDigits(s, p, a, digits, false);
        s[p++] = PLUS;
        p = writeDigits(s, p, b, digits, false);
        s[p++] = EQUALS;
        writeDigits(s, p, a + b, digits + 1, true);
        return s;
    }

    private static int writeDigits(int[] s, int p, long value, int width, boolean leastSignificantFirst) {
        for (int i = 0; i < width; i++) {
            int power = leastSignificantFirst ? i : width - 1 - i;
            s[p + i] = (int) (value / pow10(power) % 10);
        }
        return p + width;
    }

    /** Greedy decoding of every held-out pair; exact match of all answer digits. */
    @Override
    public String evaluate(GptModelRunner model, Random random) {
        int correct = 0;
        int promptLength = 2 * digits + 2;
        int chunk = 256;
        String example = null;
        for (int start = 0; start < validation.size(); start += chunk) {
            List<int[]> part = validation.subList(start, Math.min(validation.size(), start + chunk));
            int[][] prompts = new int[part.size()][];
            for (int i = 0; i < part.size(); i++) {
                int[] full = sequence(part.get(i)[0], part.get(i)[1]);
                prompts[i] = java.util.Arrays.copyOf(full, promptLength);
            }
            int[][] answers = model.greedy(prompts, digits + 1);
            for (int i = 0; i < part.size(); i++) {
                int[] full = sequence(part.get(i)[0], part.get(i)[1]);
                boolean ok = true;
                for (int d = 0; d <= digits; d++) {
                    ok &= answers[i][d] == full[promptLength + d];
                }
                correct += ok ? 1 : 0;
                if (example == null) {
                    example = render(prompts[i]) + render(answers[i]) + (ok ? " (right)" : " (wrong)");
                }
            }
        }
        lastAccuracy = (double) correct / validation.size();
        return String.format(
                java.util.Locale.ROOT,
                "exact match on %d held-out sums: %.1f%%, e.g. %s",
                validation.size(),
                100 * lastAccuracy,
                example);
    }

    @Override
    public double score() {
        return lastAccuracy;
    }

    private static String render(int[] tokens) {
        StringBuilder b = new StringBuilder();
        for (int t : tokens) {
            b.append(t == PLUS ? '+' : t == EQUALS ? '=' : (char) ('0' + t));
        }
        return b.toString();
    }

    private static long pow10(int n) {
        long p = 1;
        for (int i = 0; i < n; i++) {
            p *= 10;
        }
        return p;
    }
}
