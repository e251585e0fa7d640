package io.flashdjl.examples.bert;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.TreeSet;

/**
 * Character-level masked-language modelling of a UTF-8 text file, in padded batches of sequences of different
 * lengths, as BERT trains: each row of a batch is a random span of the text whose length is drawn uniformly from
 * {@code [(1 - 2 p) T, T]} (so that about a fraction {@code p} of the batch is padding), and a fraction of its
 * tokens is replaced by {@code [MASK]} and predicted. The attention mask is DJL's {@code [B, T, T]} key padding
 * (every query row sees the row's tokens and no padding), what DJL's BERT builds from its input masks.
 */
final class MlmTask {

    /** One padded batch. */
    record Batch(NDArray inputs, NDArray attentionMask, NDArray targets, NDArray lossMask, long tokens)
            implements AutoCloseable {

        @Override
        public void close() {
            inputs.close();
            attentionMask.close();
            targets.close();
            lossMask.close();
        }
    }

    private final int[] tokens;
    private final int characters;
    private final int split;

    private MlmTask(int[] tokens, int characters) {
        this.tokens = tokens;
        this.characters = characters;
        this.split = (int) (tokens.length * 0.9);
    }

    /**
     * Reads the file; its distinct code points are the vocabulary, then {@code [MASK]} and {@code [PAD]}.
     *
     * @throws IllegalArgumentException if it is missing, unreadable or shorter than ten sequences
     */
    static MlmTask read(Path file, int sequence) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("--text: no such file: " + file);
        } catch (IOException e) {
            throw new IllegalArgumentException("--text: cannot read " + file + " as UTF-8: " + e.getMessage());
        }
        int[] cps = text.codePoints().toArray();
        if (cps.length < 10 * (sequence + 1)) {
            throw new IllegalArgumentException("--text: " + file + " has " + cps.length + " characters; sequences of "
                    + sequence + " need at least " + 10 * (sequence + 1));
        }
        TreeSet<Integer> distinct = new TreeSet<>();
        for (int c : cps) {
            distinct.add(c);
        }
        int[] vocabulary = distinct.stream().mapToInt(Integer::intValue).toArray();
        int[] ids = new int[cps.length];
        for (int i = 0; i < cps.length; i++) {
            ids[i] = Arrays.binarySearch(vocabulary, cps[i]);
        }
        return new MlmTask(ids, vocabulary.length);
    }

    /** The vocabulary: the characters, {@code [MASK]} and {@code [PAD]}. */
    int vocabularySize() {
        return characters + 2;
    }

    private int maskId() {
        return characters;
    }

    private int padId() {
        return characters + 1;
    }

    /** A training batch (the first 90% of the text). */
    Batch training(NDManager manager, int batch, int sequence, double padding, double maskRate, Random random) {
        return batch(manager, batch, sequence, padding, maskRate, random, 0, split);
    }

    /** A validation batch (the last 10%). */
    Batch validation(NDManager manager, int batch, int sequence, double padding, double maskRate, Random random) {
        return batch(manager, batch, sequence, padding, maskRate, random, split, tokens.length);
    }

    private Batch batch(
            NDManager manager,
            int batch,
            int sequence,
            double padding,
            double maskRate,
            Random random,
            int from,
            int to) {
        float[] in = new float[batch * sequence];
        float[] target = new float[batch * sequence];
        float[] loss = new float[batch * sequence];
        float[] keep = new float[batch * sequence * sequence];
        int shortest = Math.max(1, (int) Math.ceil((1 - 2 * padding) * sequence));
        long counted = 0;
        for (int b = 0; b < batch; b++) {
            int length = shortest + random.nextInt(sequence - shortest + 1);
            int start = from + random.nextInt(to - from - length);
            counted += length;
            int always = random.nextInt(length); // every row predicts at least one token
            for (int p = 0; p < sequence; p++) {
                int at = b * sequence + p;
                if (p >= length) {
                    in[at] = padId();
                    target[at] = padId();
                    continue;
                }
                int token = tokens[start + p];
                target[at] = token;
                boolean masked = p == always || random.nextDouble() < maskRate;
                in[at] = masked ? maskId() : token;
                loss[at] = masked ? 1 : 0;
            }
            for (int i = 0; i < sequence; i++) { // key padding: every query row sees the row's tokens
                Arrays.fill(keep, (b * sequence + i) * sequence, (b * sequence + i) * sequence + length, 1f);
            }
        }
        Shape shape = new Shape(batch, sequence);
        return new Batch(
                manager.create(in, shape),
                manager.create(keep, new Shape(batch, sequence, sequence)),
                manager.create(target, shape),
                manager.create(loss, shape),
                counted);
    }
}
