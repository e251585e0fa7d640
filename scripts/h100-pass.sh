#!/usr/bin/env bash
# One pass on the CUDA machine (no Java or Maven there), from the project root, after
# scripts/device/stage --modules java.desktop (the benchmark's and the GPT's charts need it) and
# with DJL's JNI for that machine's torch in .device/jni/ (README, "Testing on a GPU"). In priority
# order, each step under its own time limit so that a slow one cannot take the others' time: the
# gpu-tagged tests, the benchmark's FlashAttention-3 grid, the GPT trained with flash, sdpa and
# naive attention, then the remaining benchmark grids.
# Results go to $OUT (or ./runs/h100 when OUT is unset); the last lines summarise.
set -u
OUT=${OUT:-runs/h100}
mkdir -p "$OUT" runs
. .device/env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
$JAVA --list-modules | grep -q '^java.desktop@' \
  || echo "warning: the staged JRE lacks java.desktop: no charts (stage with --modules java.desktop)"

# 1. GPU tests: outputs poisoned, every launch synchronised so a fault names its kernel
JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true $JAVA_TOOL_OPTIONS" timeout 170 \
  $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > "$OUT/gpu-tests.log" 2>&1
echo "gpu tests rc=$?"

# 2. benchmark, FlashAttention-3 paper grid
timeout 150 $JAVA -cp "$CP" io.flashdjl.examples.bench.AttentionBenchmark --grid fa3 \
  --backends cuda,sdpa-flash,sdpa-cudnn,sdpa-efficient,sdpa-auto,naive --repeats 10 --target-ms 100 \
  --out runs/bench-fa3 > "$OUT/bench-fa3.log" 2>&1
echo "bench fa3 rc=$?"

# 3. GPT, character level on this repository's Java sources, larger model; peak device memory of
#    the process from nvidia-smi (includes the CUDA context and PyTorch's cache)
find . -path ./.device -prune -o -name '*.java' -print | sort | xargs cat > runs/corpus.txt
for a in flash sdpa naive; do
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "runs/mem-$a.txt" &
  smi=$!
  timeout 50 $JAVA -cp "$CP" io.flashdjl.examples.gpt.GptExample --text runs/corpus.txt --large --steps 60 \
    --eval-every 60 --attention $a --out runs/gpt-$a > "runs/gpt-$a.log" 2>&1
  echo "gpt $a rc=$?"
  kill $smi
  echo "gpt $a: $(grep -h '^trained' runs/gpt-$a.log) peak MiB $(sort -n runs/mem-$a.txt | tail -1)" >> "$OUT/gpt.txt"
done
cat runs/gpt-*.log > "$OUT/gpt-logs.txt"

# 4. benchmark, remaining grids
timeout 110 $JAVA -cp "$CP" io.flashdjl.examples.bench.AttentionBenchmark --grid memory,latency,gqa \
  --backends cuda,sdpa-flash,sdpa-cudnn,sdpa-auto,naive --repeats 10 --target-ms 50 \
  --out runs/bench-more > "$OUT/bench-more.log" 2>&1
echo "bench more rc=$?"
tar czf "$OUT/bench.tgz" -C runs bench-fa3 bench-more 2>/dev/null

echo "== summary"
grep -E "tests (successful|failed|aborted|skipped|found)" "$OUT/gpu-tests.log"
grep -E "=> Exception|MethodSource" "$OUT/gpu-tests.log" | cut -c1-200 | head -10
cat "$OUT/gpt.txt"
