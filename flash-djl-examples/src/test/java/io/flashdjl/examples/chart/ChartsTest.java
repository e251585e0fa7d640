package io.flashdjl.examples.chart;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The charts are drawn headless and written as PNGs that decode; a failure to draw is one line. */
public class ChartsTest {

    /** The file is a PNG of the charts' size that an image decoder reads, with something drawn on it. */
    public static void assertDrawnPng(Path file) throws IOException {
        assertTrue(Files.isRegularFile(file), file + " was not written");
        BufferedImage image = ImageIO.read(file.toFile());
        assertNotNull(image, file + " does not decode as an image");
        assertEquals(Charts.WIDTH, image.getWidth());
        assertEquals(Charts.HEIGHT, image.getHeight());
        int corner = image.getRGB(0, 0);
        int differing = 0;
        for (int y = 0; y < image.getHeight(); y += 4) {
            for (int x = 0; x < image.getWidth(); x += 4) {
                differing += image.getRGB(x, y) != corner ? 1 : 0;
            }
        }
        assertTrue(differing > 500, file + " is nearly blank: " + differing + " sampled pixels drawn");
    }

    @Test
    void log2ChartIsWrittenHeadless(@TempDir Path dir) throws IOException {
        XYSeries s = new XYSeries("a");
        for (int n = 512; n <= 16384; n *= 2) {
            s.add(n, Math.log(n));
        }
        Path file = dir.resolve("c.png");
        Charts.writePng(
                Charts.chart(
                        "test",
                        Charts.linePlot(
                                new XYSeriesCollection(s),
                                Charts.log2("N", Long::toString),
                                Charts.linearFromZero("y"))),
                file);
        assertDrawnPng(file);
        assertEquals("true", System.getProperty("java.awt.headless"));
    }

    @Test
    void aChartThatCannotBeWrittenIsReportedInOneLine(@TempDir Path dir) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream log = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        Path file = dir.resolve("no-such-folder").resolve("c.png");
        boolean drawn = ChartAttempt.run(
                file.toString(),
                () -> Charts.writePng(
                        Charts.chart(
                                "t",
                                Charts.linePlot(
                                        new XYSeriesCollection(),
                                        Charts.log2("N", Long::toString),
                                        Charts.linearFromZero("y"))),
                        file),
                log);
        assertFalse(drawn);
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(text.startsWith(file + " not drawn: "), text);
        assertEquals(1, text.strip().lines().count(), text);
    }
}
