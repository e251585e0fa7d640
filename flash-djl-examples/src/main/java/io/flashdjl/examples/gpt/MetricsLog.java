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

/** The run's metrics, one CSV row per evaluation, flushed as they come. */
final class MetricsLog implements AutoCloseable {

    /** One evaluation point. */
    static final class Row {
        final int step;
        final double trainLoss;
        final double validationLoss;
        final double score;
        final double tokensPerSecond;

        Row(int step, double trainLoss, double validationLoss, double score, double tokensPerSecond) {
            this.step = step;
            this.trainLoss = trainLoss;
            this.validationLoss = validationLoss;
            this.score = score;
            this.tokensPerSecond = tokensPerSecond;
        }
    }

    private final Writer csv;
    private final List<Row> rows = new ArrayList<>();

    MetricsLog(Path file) {
        try {
            Files.createDirectories(file.getParent());
            csv = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
            csv.write("step,train_loss,validation_loss,score,tokens_per_second\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    void add(Row r) {
        rows.add(r);
        try {
            csv.write(String.format(
                    Locale.ROOT,
                    "%d,%.6f,%.6f,%s,%.1f%n",
                    r.step,
                    r.trainLoss,
                    r.validationLoss,
                    Double.isNaN(r.score) ? "" : String.format(Locale.ROOT, "%.4f", r.score),
                    r.tokensPerSecond));
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
