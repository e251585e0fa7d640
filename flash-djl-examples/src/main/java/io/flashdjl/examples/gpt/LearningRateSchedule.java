package io.flashdjl.examples.gpt;

import ai.djl.training.tracker.Tracker;

/**
 * The run's learning rate: linear warm-up, then a cosine decay to a tenth of the peak at the last step.
 * DJL's optimizer counts its updates from 1 in every process, so a resumed run shifts that count by the
 * steps already done: the schedule continues where the checkpoint left it instead of warming up again.
 * It also remembers the value it last gave the optimizer, for the metrics.
 */
final class LearningRateSchedule implements Tracker {

    private final Tracker warmUpThenCosine;
    private final int stepsDone;
    private volatile float last = Float.NaN;

    /**
     * @param stepsDone steps finished before this process started: 0, or the step of the checkpoint resumed from
     */
    LearningRateSchedule(GptOptions o, int stepsDone) {
        warmUpThenCosine = Tracker.warmUp()
                .optWarmUpSteps(o.warmup)
                .setMainTracker(Tracker.cosine()
                        .setBaseValue(o.learningRate)
                        .optFinalValue(o.learningRate / 10)
                        .setMaxUpdates(Math.max(1, o.steps - o.warmup))
                        .build())
                .build();
        this.stepsDone = stepsDone;
    }

    /** The learning rate of training step {@code step} (counted from 1 at the start of the run). */
    float at(int step) {
        return warmUpThenCosine.getNewValue(step);
    }

    /** {@inheritDoc} {@code numUpdate} counts this process's updates, from 1. */
    @Override
    public float getNewValue(int numUpdate) {
        float value = at(stepsDone + numUpdate);
        last = value;
        return value;
    }

    /** The value last given to the optimizer (NaN before the first update). */
    float last() {
        return last;
    }
}
