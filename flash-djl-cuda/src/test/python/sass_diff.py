"""Per-kernel comparison of two flash-djl fatbins, without a GPU and without cuobjdump.

usage: python3 sass_diff.py OLD.fatbin NEW.fatbin [OLD_PTXAS.log NEW_PTXAS.log]

Reads the SASS cubins (ELF) that nvcc stores uncompressed in the fatbin and prints, per kernel
and architecture: registers, local-memory frame, instruction count, and whether the machine
code is byte-identical or has the same opcode sequence (operands such as parameter offsets,
registers and immediates ignored: the low 12 bits of every 128-bit instruction word, the
opcode field of sm_80 and sm_90 encodings). With the two `-Xptxas -v` logs of the builds
(build-fatbin.sh OUT -Xptxas -v), spill stores/loads are added. A kernel present in only one
fatbin is listed as added or removed.
"""
import re
import struct
import sys

EIATTR_FRAME_SIZE = 0x11
EIATTR_REGCOUNT = 0x2F


def cubins(data):
    """(arch, elf bytes) of every ELF image in the fatbin."""
    out = []
    for m in re.finditer(b"\x7fELF\x02\x01", data):
        base = m.start()
        shoff, = struct.unpack_from("<Q", data, base + 0x28)
        flags, = struct.unpack_from("<I", data, base + 0x30)
        shentsize, shnum = struct.unpack_from("<HH", data, base + 0x3A)
        end = shoff + shentsize * shnum
        for i in range(shnum):
            _, typ, _, _, off, size = struct.unpack_from("<IIQQQQ", data, base + shoff + i * shentsize)
            if typ != 8:  # SHT_NOBITS occupies no file bytes
                end = max(end, off + size)
        arch = _arch(flags)
        out.append((arch, data[base:base + end]))
    return out


def _arch(flags):
    # CUDA ELF e_flags: the SM version in bits 0-7 (older toolkits) or bits 8-15 (CUDA 12.8+)
    for v in ((flags >> 8) & 0xFF, flags & 0xFF):
        if 50 <= v <= 130:
            return f"sm_{v}"
    return f"flags_{flags:#x}"


def sections(elf):
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    strtab = hdrs[shstrndx]
    names = elf[strtab[4]:strtab[4] + strtab[5]]
    res = []
    for h in hdrs:
        name = names[h[0]:names.index(b"\0", h[0])].decode()
        res.append((name, h))
    return res


def kernels(elf):
    """kernel name -> dict(regs, frame, text bytes)."""
    secs = sections(elf)
    out = {}
    symtab = next((h for n, h in secs if n == ".symtab"), None)
    strtab = next((h for n, h in secs if n == ".strtab"), None)
    syms = []
    if symtab and strtab:
        st = elf[strtab[4]:strtab[4] + strtab[5]]
        for i in range(symtab[5] // 24):
            nm, = struct.unpack_from("<I", elf, symtab[4] + i * 24)
            syms.append(st[nm:st.index(b"\0", nm)].decode())
    for name, h in secs:
        if name.startswith(".text."):
            k = name[len(".text."):]
            out[k] = {"regs": 0, "frame": 0, "text": elf[h[4]:h[4] + h[5]]}
    for name, h in secs:  # global .nv.info: attributes keyed by symbol index
        if name != ".nv.info":
            continue
        blob, pos = elf[h[4]:h[4] + h[5]], 0
        while pos + 2 <= len(blob):
            fmt, attr = blob[pos], blob[pos + 1]
            if fmt == 4:
                size, = struct.unpack_from("<H", blob, pos + 2)
                if attr in (EIATTR_FRAME_SIZE, EIATTR_REGCOUNT) and size == 8:
                    sym, val = struct.unpack_from("<II", blob, pos + 4)
                    if sym < len(syms) and syms[sym] in out:
                        out[syms[sym]]["frame" if attr == EIATTR_FRAME_SIZE else "regs"] = val
                pos += 4 + size
            elif fmt == 3:
                pos += 4
            elif fmt == 2:
                pos += 3
            else:
                pos += 2
    return out


def opcodes(text):
    return [struct.unpack_from("<H", text, i)[0] & 0xFFF for i in range(0, len(text), 16)]


def ptxas_log(path):
    """(kernel, arch) -> (spill stores, spill loads) from a ptxas -v log."""
    res, cur = {}, None
    for line in open(path, errors="replace"):
        m = re.search(r"Compiling entry function '(\w+)' for '(\w+)'", line)
        if m:
            cur = (m.group(1), m.group(2))
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and cur:
            res[cur] = (int(m.group(1)), int(m.group(2)))
    return res


def main():
    if len(sys.argv) not in (3, 5):
        sys.exit(__doc__)
    old = {a: kernels(e) for a, e in cubins(open(sys.argv[1], "rb").read())}
    new = {a: kernels(e) for a, e in cubins(open(sys.argv[2], "rb").read())}
    logs = (ptxas_log(sys.argv[3]), ptxas_log(sys.argv[4])) if len(sys.argv) == 5 else None
    counts = {}
    print("| arch | kernel | regs | frame B | spill st/ld | instructions | SASS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for arch in sorted(set(old) | set(new)):
        o, n = old.get(arch, {}), new.get(arch, {})
        for k in sorted(set(o) | set(n)):
            if k not in n or k not in o:
                verdict = "removed" if k not in n else "added"
                row = (o or n).get(k)
                print(f"| {arch} | {k} | {row['regs']} | {row['frame']} | | {len(row['text']) // 16} | {verdict} |")
                counts[verdict] = counts.get(verdict, 0) + 1
                continue
            a, b = o[k], n[k]
            if a["text"] == b["text"]:
                verdict = "identical"
            elif opcodes(a["text"]) == opcodes(b["text"]):
                verdict = "same opcodes"
            else:
                verdict = "different"
            counts[verdict] = counts.get(verdict, 0) + 1
            sp = ""
            if logs:
                la = logs[0].get((k, arch)) or logs[0].get((k, arch + "a"))
                lb = logs[1].get((k, arch)) or logs[1].get((k, arch + "a"))
                sp = f"{la[0]}/{la[1]} -> {lb[0]}/{lb[1]}" if la and lb else "?"
                if la and lb and (lb[0] > la[0] or lb[1] > la[1]):
                    sp += " MORE"
            regs = f"{a['regs']}" if a["regs"] == b["regs"] else f"{a['regs']} -> {b['regs']}"
            frame = f"{a['frame']}" if a["frame"] == b["frame"] else f"{a['frame']} -> {b['frame']}"
            ni, nj = len(a["text"]) // 16, len(b["text"]) // 16
            instr = f"{ni}" if ni == nj else f"{ni} -> {nj} ({(nj - ni) / ni:+.1%})"
            print(f"| {arch} | {k} | {regs} | {frame} | {sp} | {instr} | {verdict} |")
    print()
    print("summary: " + ", ".join(f"{v} {c}" for v, c in sorted(counts.items())))


if __name__ == "__main__":
    main()
