package io.flashdjl.examples.gpt;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Random;
import java.util.TreeSet;

/**
 * Character-level language modelling of a UTF-8 text file: the vocabulary is the file's distinct
 * code points, the first 90% trains and the last 10% validates, and evaluation prints a sample.
 */
final class TextTask implements TokenTask {

    private final int[] codePoints;
    private final int[] tokens;
    private final int[] vocabulary;
    private final int context;
    private final int split;

    private TextTask(int[] codePoints, int context) {
        this.codePoints = codePoints;
        this.context = context;
        TreeSet<Integer> distinct = new TreeSet<>();
        for (int c : codePoints) {
            distinct.add(c);
        }
        vocabulary = distinct.stream().mapToInt(Integer::intValue).toArray();
        tokens = new int[codePoints.length];
        for (int i = 0; i < codePoints.length; i++) {
            tokens[i] = java.util.Arrays.binarySearch(vocabulary, codePoints[i]);
        }
        split = (int) (tokens.length * 0.9);
    }

    /**
     * Reads and checks the file.
     *
     * @throws IllegalArgumentException if it is missing, not UTF-8, or too short for the context
     */
    static TextTask read(Path file, int context) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("--text: no such file: " + file);
        } catch (IOException e) {
            throw new IllegalArgumentException("--text: cannot read " + file + ": " + e.getMessage());
        }
        String text;
        try {
            text = StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("--text: " + file + " is not valid UTF-8 (" + e.getMessage() + ")");
        }
        int[] cps = text.codePoints().toArray();
        // both splits need at least one full window of context + 1 characters
        int needed = 10 * (context + 2);
        if (cps.length < needed) {
            throw new IllegalArgumentException("--text: " + file + " has " + cps.length + " characters; a context of "
                    + context + " needs at least " + needed + (cps.length == 0 ? " (the file is empty)" : ""));
        }
        return new TextTask(cps, context);
    }

    @Override
    public int vocabularySize() {
        return vocabulary.length;
    }

    @Override
    public int sequenceLength() {
        return context;
    }

    @Override
    public TokenBatch trainingBatch(NDManager manager, int batchSize, Random random) {
        return windows(manager, batchSize, random, 0, split);
    }

    @Override
    public TokenBatch validationBatch(NDManager manager, int batchSize, Random random) {
        return windows(manager, batchSize, random, split, tokens.length);
    }

    private TokenBatch windows(NDManager manager, int batchSize, Random random, int from, int to) {
        float[] in = new float[batchSize * context];
        float[] target = new float[batchSize * context];
        float[] mask = new float[batchSize * context];
        for (int b = 0; b < batchSize; b++) {
            int start = from + random.nextInt(to - from - context - 1);
            for (int p = 0; p < context; p++) {
                in[b * context + p] = tokens[start + p];
                target[b * context + p] = tokens[start + p + 1];
                mask[b * context + p] = 1;
            }
        }
        Shape shape = new Shape(batchSize, context);
        return new TokenBatch(manager.create(in, shape), manager.create(target, shape), manager.create(mask, shape));
    }

    /** A 200-character sample continuing a validation prompt. */
    @Override
    public String evaluate(GptModelRunner model, Random random) {
        int start = split + random.nextInt(tokens.length - split - context - 1);
        int[] prompt = java.util.Arrays.copyOfRange(tokens, start, start + context / 2);
        int[] generated = model.sample(prompt, 200, 0.8, random);
        StringBuilder s = new StringBuilder();
        for (int t : prompt) {
            s.appendCodePoint(vocabulary[t]);
        }
        s.append("|");
        for (int t : generated) {
            s.appendCodePoint(vocabulary[t]);
        }
        return "sample (prompt|generated): " + s.toString().replace("\n", "\\n");
    }

    @Override
    public double score() {
        return Double.NaN;
    }

    /** Characters in the file. */
    int length() {
        return codePoints.length;
    }
}
