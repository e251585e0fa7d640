package io.flashdjl.examples.chart;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.DeflaterOutputStream;

/**
 * A minimal PNG encoder (8-bit RGB, no filtering), so that charts need no AWT or ImageIO: the
 * device machine's JRE has no java.desktop module.
 */
public final class Png {

    public static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private Png() {}

    /** Encodes {@code rgb} (one 0xRRGGBB int per pixel, row by row) as PNG bytes. */
    public static byte[] encode(int width, int height, int[] rgb) {
        try {
            ByteArrayOutputStream raw = new ByteArrayOutputStream();
            try (DeflaterOutputStream z = new DeflaterOutputStream(raw)) {
                byte[] row = new byte[1 + 3 * width]; // filter byte 0 (none), then RGB
                for (int y = 0; y < height; y++) {
                    for (int x = 0; x < width; x++) {
                        int p = rgb[y * width + x];
                        row[1 + 3 * x] = (byte) (p >>> 16);
                        row[2 + 3 * x] = (byte) (p >>> 8);
                        row[3 + 3 * x] = (byte) p;
                    }
                    z.write(row);
                }
            }
            ByteArrayOutputStream png = new ByteArrayOutputStream();
            png.write(SIGNATURE);
            ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
            DataOutputStream h = new DataOutputStream(ihdr);
            h.writeInt(width);
            h.writeInt(height);
            h.writeByte(8); // bit depth
            h.writeByte(2); // colour type: RGB
            h.writeByte(0); // deflate
            h.writeByte(0); // adaptive filtering (each row says which; here none)
            h.writeByte(0); // no interlace
            chunk(png, "IHDR", ihdr.toByteArray());
            chunk(png, "IDAT", raw.toByteArray());
            chunk(png, "IEND", new byte[0]);
            return png.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("in-memory PNG encoding failed", e);
        }
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) throws IOException {
        DataOutputStream d = new DataOutputStream(out);
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        d.writeInt(data.length);
        d.write(t);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }
}
