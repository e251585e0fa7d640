package io.flashdjl.spi;

import ai.djl.Device;
import ai.djl.pytorch.engine.PtSymbolBlock;

/**
 * {@link DropoutBits}'s generator as a TorchScript module, so that array backends draw the bits on the device
 * instead of in a Java loop: Philox4x32-10 over whole blocks of elements in int64 tensor arithmetic. Each
 * 32 x 32-bit product is split into 16-bit halves of the constant, so that no int64 overflows, and the shifts
 * and masks are divisions and remainders of non-negative values. {@code DropoutTest} checks it against the
 * scalar definition bit for bit.
 *
 * <p>{@code forward(key, qs, qi, ks, kj) -> keep}: key int64 {@code [k0, k1, offset, heads, threshold]}; qs, qi
 * int64 {@code [B, R]} (each query row's sequence, -1 for none, and its index there); ks, kj int64 {@code [B,
 * C]}; keep bool {@code [B, heads, R, C]}, false where the query and the key are not of one sequence.
 */
final class DropoutBitsModule {

    static final String CLASS_NAME = "FlashDropoutBits";

    private static final long M0 = 0xD2511F53L;
    private static final long M1 = 0xCD9E8D57L;
    private static final long W0 = 0x9E3779B9L;
    private static final long W1 = 0xBB67AE85L;

    private DropoutBitsModule() {}

    /** The loaded module for {@code device}. */
    static PtSymbolBlock get(Device device) {
        return TorchScriptModules.get(device, CLASS_NAME, code(), "the dropout generator");
    }

    /** The contents of {@code code/__torch__.py}. */
    static String code() {
        StringBuilder c = new StringBuilder();
        c.append("class ").append(CLASS_NAME).append("(Module):\n");
        c.append("  __parameters__ = []\n");
        c.append("  training : bool\n");
        c.append("  def forward(self: __torch__.").append(CLASS_NAME).append(",\n");
        c.append("    key: Tensor,\n    qs: Tensor,\n    qi: Tensor,\n    ks: Tensor,\n    kj: Tensor) -> Tensor:\n");
        c.append("    k0 = int(key[0])\n    k1 = int(key[1])\n    offset = int(key[2])\n");
        c.append("    heads = int(key[3])\n    threshold = int(key[4])\n");
        c.append("    h = torch.reshape(torch.arange(heads, dtype=4, device=qs.device), [1, heads, 1, 1])\n");
        c.append("    i = torch.unsqueeze(torch.unsqueeze(qi, 1), 3)\n"); // [B, 1, R, 1]
        c.append("    s = torch.unsqueeze(torch.unsqueeze(qs, 1), 3)\n");
        c.append("    j = torch.unsqueeze(torch.unsqueeze(kj, 1), 2)\n"); // [B, 1, 1, C]
        c.append("    t = torch.unsqueeze(torch.unsqueeze(ks, 1), 2)\n");
        c.append("    x0 = torch.add(torch.zeros_like(torch.add(i, j)), ")
                .append(cell("j"))
                .append(")\n");
        c.append("    x1 = torch.add(torch.zeros_like(x0), ").append(cell("i")).append(")\n");
        c.append(
                "    x2 = torch.add(torch.zeros_like(torch.add(x0, h)), torch.remainder(torch.add(torch.mul(s, heads), h),"
                        + " 4294967296))\n");
        c.append("    x0 = torch.add(torch.zeros_like(x2), x0)\n");
        c.append("    x1 = torch.add(torch.zeros_like(x2), x1)\n");
        c.append("    x3 = torch.add(torch.zeros_like(x2), offset)\n");
        c.append("    ka = k0\n    kb = k1\n");
        c.append("    for r in range(10):\n");
        mulhilo(c, "x0", M0, "hi0", "lo0");
        mulhilo(c, "x2", M1, "hi1", "lo1");
        c.append("      y0 = torch.bitwise_xor(torch.bitwise_xor(hi1, x1), ka)\n");
        c.append("      y2 = torch.bitwise_xor(torch.bitwise_xor(hi0, x3), kb)\n");
        c.append("      x0 = y0\n      x1 = lo1\n      x2 = y2\n      x3 = lo0\n");
        c.append("      ka = (ka + ").append(W0).append(") % 4294967296\n");
        c.append("      kb = (kb + ").append(W1).append(") % 4294967296\n");
        // element (i, j): word ri = (i & 1) | ((i >> 2) & 2), byte cj = (j & 1) | ((j >> 2) & 2)
        c.append(
                "    ri = torch.add(torch.remainder(i, 2), torch.mul(torch.remainder(torch.floor_divide(i, 8), 2), 2))\n");
        c.append(
                "    cj = torch.add(torch.remainder(j, 2), torch.mul(torch.remainder(torch.floor_divide(j, 8), 2), 2))\n");
        c.append("    word = torch.where(torch.eq(ri, 0), x0, torch.where(torch.eq(ri, 1), x1,"
                + " torch.where(torch.eq(ri, 2), x2, x3)))\n");
        c.append("    byte = torch.remainder(torch.floor_divide(word, torch.pow(256, cj)), 256)\n");
        c.append("    same = torch.logical_and(torch.eq(s, t), torch.ge(s, 0))\n");
        c.append("    return torch.logical_and(torch.lt(byte, threshold), same)\n");
        return c.toString();
    }

    /** {@code ((x >> 4) << 2) | ((x >> 1) & 3)} of a non-negative tensor. */
    private static String cell(String x) {
        return "torch.add(torch.mul(torch.floor_divide(" + x + ", 16), 4), torch.remainder(torch.floor_divide(" + x
                + ", 2), 4))";
    }

    /** hi, lo = the high and low 32 bits of x * m, with x below 2^32 and no int64 overflow. */
    private static void mulhilo(StringBuilder c, String x, long m, String hi, String lo) {
        long low = m % 65536;
        long high = m / 65536;
        c.append("      t1 = torch.mul(").append(x).append(", ").append(low).append(")\n");
        c.append("      t2 = torch.mul(").append(x).append(", ").append(high).append(")\n");
        c.append("      u = torch.add(t1, torch.mul(torch.remainder(t2, 65536), 65536))\n");
        c.append("      ").append(lo).append(" = torch.remainder(u, 4294967296)\n");
        c.append("      ")
                .append(hi)
                .append(" = torch.add(torch.floor_divide(t2, 65536), torch.floor_divide(u, 4294967296))\n");
    }
}
