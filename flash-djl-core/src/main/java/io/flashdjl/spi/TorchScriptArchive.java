package io.flashdjl.spi;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes a TorchScript archive (what {@code torch.jit.save} produces) for a module that holds no
 * tensors: only code and its {@code training} flag. This lets the project hand TorchScript to
 * libtorch without Python.
 *
 * <p>The zip holds, under the folder {@code archive/}:
 *
 * <ul>
 *   <li>{@code code/__torch__.py}: the module class in TorchScript source form;
 *   <li>{@code data.pkl}: a pickle of the module object, an instance of {@code __torch__.<class>}
 *       whose state is the dict {@code {"training": <bool>}};
 *   <li>{@code constants.pkl}: the (empty) tuple of tensor constants;
 *   <li>{@code version}: the file format version, 6 (TorchScript source with keyword arguments).
 * </ul>
 *
 * <p>Loaded through {@link TorchScriptModules}; public so that other generated modules (the benchmark's forced
 * SDPA kernels) reuse it.
 */
public final class TorchScriptArchive {

    /** Format version 6: the oldest that libtorch 2.x reads without op upgraders getting involved. */
    static final int FORMAT_VERSION = 6;

    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    // pickle opcodes used below (protocol 2), see Python's Lib/pickletools.py
    private static final int PROTO = 0x80;
    private static final int GLOBAL = 'c';
    private static final int EMPTY_TUPLE = ')';
    private static final int NEWOBJ = 0x81;
    private static final int EMPTY_DICT = '}';
    private static final int MARK = '(';
    private static final int BINUNICODE = 'X';
    private static final int NEWTRUE = 0x88;
    private static final int NEWFALSE = 0x89;
    private static final int SETITEMS = 'u';
    private static final int BUILD = 'b';
    private static final int STOP = '.';

    private TorchScriptArchive() {}

    /**
     * The bytes of the archive.
     *
     * @param className the module's class, defined in {@code source} as {@code class <className>(Module):}
     * @param source the contents of {@code code/__torch__.py}
     * @param training the module's {@code training} attribute
     * @return the zip, ready for libtorch's module loader
     * @throws IllegalArgumentException if {@code className} is not a Python identifier
     */
    public static byte[] build(String className, String source, boolean training) {
        if (!IDENTIFIER.matcher(className).matches()) {
            throw new IllegalArgumentException("className: expected a Python identifier but got '" + className + "'");
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            store(zip, "archive/data.pkl", modulePickle(className, training));
            store(zip, "archive/code/__torch__.py", source.getBytes(StandardCharsets.UTF_8));
            store(zip, "archive/constants.pkl", emptyTuplePickle());
            store(zip, "archive/version", (FORMAT_VERSION + "\n").getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new UncheckedIOException("writing a TorchScript archive in memory", e);
        }
        return bytes.toByteArray();
    }

    /**
     * {@code __torch__.<className>} with state {@code {"training": training}}, as libtorch's
     * pickler writes a module object: the class as a GLOBAL, NEWOBJ on an empty tuple, then BUILD
     * with the attribute dict. libtorch's unpickler needs every attribute the class declares to be
     * in that dict, so the class must declare {@code training} and nothing else.
     */
    static byte[] modulePickle(String className, boolean training) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(PROTO);
        out.write(2);
        out.write(GLOBAL);
        ascii(out, "__torch__\n" + className + "\n"); // module, newline, qualified name, newline
        out.write(EMPTY_TUPLE); // NEWOBJ's arguments: none
        out.write(NEWOBJ);
        out.write(EMPTY_DICT); // the object's state
        out.write(MARK);
        unicode(out, "training");
        out.write(training ? NEWTRUE : NEWFALSE);
        out.write(SETITEMS); // dict["training"] = training
        out.write(BUILD); // object.__setstate__(dict): libtorch fills the attribute slots
        out.write(STOP);
        return out.toByteArray();
    }

    /** {@code ()}: the module has no tensor constants. */
    static byte[] emptyTuplePickle() {
        return new byte[] {(byte) PROTO, 2, EMPTY_TUPLE, STOP};
    }

    /** BINUNICODE: the opcode, the UTF-8 length as 4 bytes little-endian, the UTF-8 bytes. */
    private static void unicode(ByteArrayOutputStream out, String s) {
        byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
        out.write(BINUNICODE);
        int n = utf8.length;
        out.write(n & 0xff);
        out.write((n >>> 8) & 0xff);
        out.write((n >>> 16) & 0xff);
        out.write((n >>> 24) & 0xff);
        out.writeBytes(utf8);
    }

    private static void ascii(ByteArrayOutputStream out, String s) {
        out.writeBytes(s.getBytes(StandardCharsets.US_ASCII));
    }

    /** Uncompressed entries, as torch.jit.save writes them (STORED needs size and CRC up front). */
    private static void store(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }
}
