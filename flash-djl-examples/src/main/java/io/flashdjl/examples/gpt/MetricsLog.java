package io.flashdjl.examples.gpt;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The run's metrics, one CSV row per evaluation, flushed as they come. A resumed run appends to the rows
 * of the steps its checkpoint had done.
 */
final class MetricsLog implements AutoCloseable {

    /** One evaluation point. */
    static final class Row {
        final int step;
        final double trainLoss;
        final double validationLoss;
        final double score;
        final double tokensPerSecond;
        /** The learning rate of the optimizer's last update. */
        final double learningRate;

        Row(
                int step,
                double trainLoss,
                double validationLoss,
                double score,
                double tokensPerSecond,
                double learningRate) {
            this.step = step;
            this.trainLoss = trainLoss;
            this.validationLoss = validationLoss;
            this.score = score;
            this.tokensPerSecond = tokensPerSecond;
            this.learningRate = learningRate;
        }

        private String csv() {
            return String.format(
                    Locale.ROOT,
                    "%d,%.6f,%.6f,%s,%.1f,%s%n",
                    step,
                    trainLoss,
                    validationLoss,
                    Double.isNaN(score) ? "" : String.format(Locale.ROOT, "%.4f", score),
                    tokensPerSecond,
                    Float.toString((float) learningRate)); // exactly the float the optimizer used
        }

        private static Row parse(String line) {
            String[] f = line.split(",", -1);
            return new Row(
                    Integer.parseInt(f[0]),
                    Double.parseDouble(f[1]),
                    Double.parseDouble(f[2]),
                    f[3].isEmpty() ? Double.NaN : Double.parseDouble(f[3]),
                    Double.parseDouble(f[4]),
                    Double.parseDouble(f[5]));
        }
    }

    static final String HEADER = "step,train_loss,validation_loss,score,tokens_per_second,learning_rate";

    private final Writer csv;
    private final List<Row> rows = new ArrayList<>();

    /**
     * Opens the run's CSV. A fresh run ({@code stepsDone} 0) starts it anew; a resumed one keeps the rows
     * of the steps its checkpoint had done (not those written after it, by a run that stopped before its
     * next checkpoint) and appends.
     */
    MetricsLog(Path file, int stepsDone) {
        try {
            Files.createDirectories(file.getParent());
            if (stepsDone > 0 && Files.isRegularFile(file)) {
                List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
                if (lines.isEmpty() || !lines.get(0).equals(HEADER)) {
                    throw new IllegalArgumentException("--resume: " + file + " does not start with the header " + HEADER
                            + "; move it away to start a new one");
                }
                for (String line : lines.subList(1, lines.size())) {
                    Row r = Row.parse(line);
                    if (r.step <= stepsDone) {
                        rows.add(r);
                    }
                }
            }
            csv = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
            csv.write(HEADER + "\n");
            for (Row r : rows) {
                csv.write(r.csv());
            }
            csv.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    void add(Row r) {
        rows.add(r);
        try {
            csv.write(r.csv());
            csv.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to the metrics CSV", e);
        }
    }

    List<Row> rows() {
        return rows;
    }

    @Override
    public void close() {
        try {
            csv.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
