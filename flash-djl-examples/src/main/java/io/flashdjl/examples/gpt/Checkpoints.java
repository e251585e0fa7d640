package io.flashdjl.examples.gpt;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Properties;
import java.util.stream.Stream;

/**
 * Saves and restores the model through DJL ({@code Model.save}/{@code Model.load}) with a small
 * properties file describing the architecture, so a checkpoint that does not fit the model asked
 * for is refused with a clear message. A save goes to a temporary folder that replaces the old
 * checkpoint only when complete: nothing half-written survives a crash.
 */
final class Checkpoints {

    static final String NAME = "gpt";
    private static final String DESCRIPTION = "gpt.properties";
    /** The checkpoint's folder inside a run folder. */
    private static final String FOLDER = "checkpoint";

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

    static void save(Model model, Properties description, Path folder) {
        Path tmp = folder.resolveSibling(folder.getFileName() + ".tmp");
        try {
            deleteRecursively(tmp);
            Files.createDirectories(tmp);
            model.save(tmp, NAME);
            try (OutputStream out = Files.newOutputStream(tmp.resolve(DESCRIPTION))) {
                description.store(out, "flash-djl GPT checkpoint");
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
        Path description = folder.resolve(DESCRIPTION);
        Properties found = new Properties();
        try (InputStream in = Files.newInputStream(description)) {
            found.load(in);
        } catch (IOException e) {
            throw new IllegalArgumentException("--resume: cannot read " + description + ": " + e.getMessage());
        }
        for (String key : expected.stringPropertyNames()) {
            if (!expected.getProperty(key).equals(found.getProperty(key))) {
                throw new IllegalArgumentException("--resume: the checkpoint in " + folder + " has " + key + "="
                        + found.getProperty(key) + " but this run has " + key + "=" + expected.getProperty(key));
            }
        }
    }

    /** Loads the parameters of a checkpoint that {@link #check} accepted into {@code model}. */
    static void load(Model model, Path folder) {
        try {
            model.load(folder, NAME);
        } catch (IOException | MalformedModelException e) {
            throw new IllegalArgumentException("--resume: cannot load " + folder + ": " + e.getMessage(), e);
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
