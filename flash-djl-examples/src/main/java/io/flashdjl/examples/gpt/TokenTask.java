package io.flashdjl.examples.gpt;

import ai.djl.ndarray.NDManager;
import java.util.Random;

/** What the GPT learns: a vocabulary, training batches, and a task-specific evaluation. */
interface TokenTask {

    /** Number of distinct tokens. */
    int vocabularySize();

    /** Tokens per training sequence (the model's context length). */
    int sequenceLength();

    /** One training batch of inputs, targets and the loss mask, on the manager's device. */
    TokenBatch trainingBatch(NDManager manager, int batchSize, Random random);

    /** One batch drawn from the held-out split. */
    TokenBatch validationBatch(NDManager manager, int batchSize, Random random);

    /** A line that reports the task's own measure (accuracy, a sample) for the current model. */
    String evaluate(GptModelRunner model, Random random);

    /** The task's headline number for the metrics CSV (e.g. exact-match accuracy), NaN if none. */
    double score();
}
