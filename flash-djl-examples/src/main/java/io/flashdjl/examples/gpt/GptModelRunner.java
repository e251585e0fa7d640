package io.flashdjl.examples.gpt;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.Random;

/** Runs a trained {@link GptModel} for decoding: greedy (batched) and sampled (one sequence). */
final class GptModelRunner {

    private final GptModel model;
    private final NDManager manager;

    GptModelRunner(GptModel model, NDManager manager) {
        this.model = model;
        this.manager = manager;
    }

    /** Appends {@code steps} greedy tokens to each prompt (all of one length); returns the new tokens. */
    int[][] greedy(int[][] prompts, int steps) {
        int n = prompts.length;
        int length = prompts[0].length;
        int[][] seqs = new int[n][length + steps];
        for (int i = 0; i < n; i++) {
            System.arraycopy(prompts[i], 0, seqs[i], 0, length);
        }
        for (int s = 0; s < steps; s++) {
            int current = length + s;
            float[][] last = lastLogits(seqs, current);
            for (int i = 0; i < n; i++) {
                seqs[i][current] = argmax(last[i]);
            }
        }
        int[][] out = new int[n][steps];
        for (int i = 0; i < n; i++) {
            System.arraycopy(seqs[i], length, out[i], 0, steps);
        }
        return out;
    }

    /** Samples {@code steps} tokens after {@code prompt} at the given temperature. */
    int[] sample(int[] prompt, int steps, double temperature, Random random) {
        int[] seq = new int[prompt.length + steps];
        System.arraycopy(prompt, 0, seq, 0, prompt.length);
        for (int s = 0; s < steps; s++) {
            int current = prompt.length + s;
            float[] logits = lastLogits(new int[][] {seq}, current)[0];
            seq[current] = draw(logits, temperature, random);
        }
        return java.util.Arrays.copyOfRange(seq, prompt.length, seq.length);
    }

    /** Logits at the last position of each sequence's first {@code length} tokens (the last context window). */
    private float[][] lastLogits(int[][] seqs, int length) {
        int window = Math.min(length, model.contextLength());
        int start = length - window;
        float[] data = new float[seqs.length * window];
        for (int i = 0; i < seqs.length; i++) {
            for (int p = 0; p < window; p++) {
                data[i * window + p] = seqs[i][start + p];
            }
        }
        try (NDManager scope = manager.newSubManager()) {
            NDArray tokens = scope.create(data, new Shape(seqs.length, window));
            NDArray logits = model.forward(new ParameterStore(scope, false), new NDList(tokens), false)
                    .singletonOrThrow();
            NDArray last = logits.get(":, -1, :").toType(ai.djl.ndarray.types.DataType.FLOAT32, false);
            float[] flat = last.toFloatArray();
            int v = model.vocabularySize();
            float[][] out = new float[seqs.length][v];
            for (int i = 0; i < seqs.length; i++) {
                System.arraycopy(flat, i * v, out[i], 0, v);
            }
            return out;
        }
    }

    private static int argmax(float[] xs) {
        int best = 0;
        for (int i = 1; i < xs.length; i++) {
            if (xs[i] > xs[best]) {
                best = i;
            }
        }
        return best;
    }

    private static int draw(float[] logits, double temperature, Random random) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            p[i] = Math.exp((logits[i] - max) / temperature);
            sum += p[i];
        }
        double u = random.nextDouble() * sum;
        for (int i = 0; i < p.length; i++) {
            u -= p[i];
            if (u <= 0) {
                return i;
            }
        }
        return p.length - 1;
    }
}
