package io.flashdjl.examples.gpt;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectInputFilter;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Base64;
import java.util.Comparator;
import java.util.Properties;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Saves and restores the model through DJL ({@code Model.save}/{@code Model.load}) with a small
 * properties file describing the architecture, so a checkpoint that does not fit the model asked
 * for is refused with a clear message, and the run's {@link Progress}, so a resumed run continues it.
 * A save goes to a temporary folder that replaces the old checkpoint only when complete: nothing
 * half-written survives a crash. Adam's moments are not saved: DJL 0.35.1 keeps them private.
 */
final class Checkpoints {

    static final String NAME = "gpt";
    private static final String DESCRIPTION = "gpt.properties";
    /** The checkpoint's folder inside a run folder. */
    private static final String FOLDER = "checkpoint";

    private static final String STEP = "progress.step";
    private static final String SMOOTHED_LOSS = "progress.smoothedLoss";
    private static final String RANDOM = "progress.random";

    /**
     * Where training stood when a checkpoint was saved.
     *
     * @param step the training steps done
     * @param smoothedLoss the smoothed training loss the progress bar and the metrics show
     * @param random the run's data and evaluation random generator, so the data stream continues
     */
    record Progress(int step, double smoothedLoss, Random random) {}

    private Checkpoints() {}

    /** Where a run writing to {@code runFolder} keeps its checkpoint. */
    static Path folder(Path runFolder) {
        return runFolder.resolve(FOLDER);
    }

    /**
     * The checkpoint that {@code --resume} names: either a run folder (the one a run prints,
     * holding {@code checkpoint/}) or that checkpoint folder itself.
     *
     * @throws IllegalArgumentException if neither holds a checkpoint
     */
    static Path locate(Path given) {
        if (Files.isRegularFile(given.resolve(DESCRIPTION))) {
            return given;
        }
        Path inside = folder(given);
        if (Files.isRegularFile(inside.resolve(DESCRIPTION))) {
            return inside;
        }
        throw new IllegalArgumentException("--resume: no checkpoint in " + given + " (expected the run folder an"
                + " earlier run printed, holding " + FOLDER + "/, or that " + FOLDER + "/ folder, with " + DESCRIPTION
                + " and " + NAME + "-NNNN.params)");
    }

    /** The run folder that {@code --resume} names: itself, or the one holding the checkpoint folder it names. */
    static Path runFolder(Path given) {
        return Files.isRegularFile(given.resolve(DESCRIPTION)) && given.getParent() != null ? given.getParent() : given;
    }

    /** Saves the model's parameters with its architecture {@code description} and the run's progress. */
    static void save(Model model, Properties description, Progress progress, Path folder) {
        Path tmp = folder.resolveSibling(folder.getFileName() + ".tmp");
        try {
            deleteRecursively(tmp);
            Files.createDirectories(tmp);
            model.save(tmp, NAME);
            Properties written = new Properties();
            written.putAll(description);
            written.setProperty(STEP, Integer.toString(progress.step()));
            written.setProperty(SMOOTHED_LOSS, Double.toString(progress.smoothedLoss()));
            written.setProperty(RANDOM, encode(progress.random()));
            try (OutputStream out = Files.newOutputStream(tmp.resolve(DESCRIPTION))) {
                written.store(out, "flash-djl GPT checkpoint");
            }
            deleteRecursively(folder);
            Files.move(tmp, folder, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + folder, e);
        }
    }

    /**
     * Checks, before anything is written, that the checkpoint {@link #locate} found holds the
     * architecture described by {@code expected}.
     *
     * @throws IllegalArgumentException if it holds a different model
     */
    static void check(Properties expected, Path folder) {
        Properties found = read(folder);
        for (String key : expected.stringPropertyNames()) {
            if (!expected.getProperty(key).equals(found.getProperty(key))) {
                throw new IllegalArgumentException("--resume: the checkpoint in " + folder + " has " + key + "="
                        + found.getProperty(key) + " but this run has " + key + "=" + expected.getProperty(key));
            }
        }
    }

    /**
     * The progress saved in a checkpoint that {@link #check} accepted.
     *
     * @throws IllegalArgumentException if the checkpoint does not record it
     */
    static Progress progress(Path folder) {
        Properties found = read(folder);
        String step = found.getProperty(STEP);
        String smoothed = found.getProperty(SMOOTHED_LOSS);
        String random = found.getProperty(RANDOM);
        if (step == null || smoothed == null || random == null) {
            throw new IllegalArgumentException(
                    "--resume: the checkpoint in " + folder + " records no training progress (" + STEP + ", "
                            + SMOOTHED_LOSS + ", " + RANDOM + "); it was written before --resume continued runs");
        }
        try {
            return new Progress(Integer.parseInt(step), Double.parseDouble(smoothed), decode(random));
        } catch (IllegalArgumentException | IOException | ClassNotFoundException | ClassCastException e) {
            throw new IllegalArgumentException(
                    "--resume: unreadable training progress in " + folder.resolve(DESCRIPTION) + ": " + e);
        }
    }

    /**
     * Loads the parameters of a checkpoint that {@link #check} accepted into {@code model}'s block. Call it
     * before {@code Trainer.initialize}: the trainer's parameter store keeps the arrays it finds there, so
     * parameters loaded afterwards are neither trained nor saved.
     */
    static void load(Model model, Path folder) {
        try {
            model.load(folder, NAME);
        } catch (IOException | MalformedModelException e) {
            throw new IllegalArgumentException("--resume: cannot load " + folder + ": " + e.getMessage(), e);
        }
    }

    private static Properties read(Path folder) {
        Path description = folder.resolve(DESCRIPTION);
        Properties found = new Properties();
        try (InputStream in = Files.newInputStream(description)) {
            found.load(in);
        } catch (IOException e) {
            throw new IllegalArgumentException("--resume: cannot read " + description + ": " + e.getMessage());
        }
        return found;
    }

    /** {@link Random} is serializable: its state goes into the properties file as Base64. */
    private static String encode(Random random) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(random);
        }
        return Base64.getEncoder().encodeToString(bytes.toByteArray());
    }

    /** Deserialises nothing but a {@link Random}: the checkpoint file is input, not trusted code. */
    private static Random decode(String text) throws IOException, ClassNotFoundException {
        try (ObjectInputStream in = new ObjectInputStream(
                new ByteArrayInputStream(Base64.getDecoder().decode(text)))) {
            in.setObjectInputFilter(ObjectInputFilter.Config.createFilter("java.util.Random;!*"));
            return (Random) in.readObject();
        }
    }

    private static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path x : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(x);
            }
        }
    }
}
