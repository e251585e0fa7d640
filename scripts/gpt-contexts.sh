#!/usr/bin/env bash
# The GPT example at several contexts on the CUDA machine (issue 11, item 3), from the project root
# after scripts/device/stage (with DJL's JNI for that machine's torch in .device/jni/). Every run
# trains the float32 --large model (6 layers, embedding 384, 6 query heads of 64, 2 kv heads) on
# this repository's Java sources with the same seed and tokens per step (batch x context =
# $TOKENS), for each attention: flash at full precision, flash with bfloat16 products, sdpa
# (PyTorch's fused attention, float32) and naive (DJL ops). Peak device memory is the most
# nvidia-smi saw the process hold (CUDA context and PyTorch's cache included).
#
#   scripts/gpt-contexts.sh [CONTEXT ...]     default: 1024 2048 4096 8192
# Results go to $OUT (or ./runs/gpt-contexts): one log per run and a table, gpt-contexts.md.
set -u
OUT=${OUT:-runs/gpt-contexts}
TOKENS=${TOKENS:-16384}
STEPS=${STEPS:-20}
LIMIT=${LIMIT:-150}
mkdir -p "$OUT" runs
. .device/env.sh
find . -path ./.device -prune -o -name '*.java' -print | sort | xargs cat > runs/corpus.txt
contexts=("$@")
[ ${#contexts[@]} -gt 0 ] || contexts=(1024 2048 4096 8192)
table="$OUT/gpt-contexts.md"
[ -f "$table" ] || {
  echo "| context | batch | attention | precision | tokens/s (steady) | peak GPU memory (MiB) | train loss | validation loss |"
  echo "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |"; } > "$table"
for c in "${contexts[@]}"; do
  b=$((TOKENS / c))
  for mode in flash:full flash:bfloat16 sdpa:full naive:full; do
    a=${mode%%:*}; p=${mode##*:}
    name="ctx$c-$a-$p"
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/mem-$name.txt" &
    smi=$!
    timeout "$LIMIT" $JAVA -cp "$CP" io.flashdjl.examples.gpt.GptExample --text runs/corpus.txt --large \
      --context "$c" --batch "$b" --steps "$STEPS" --eval-every "$STEPS" --warmup 5 --attention "$a" \
      --precision "$p" --out "runs/gpt-$name" > "$OUT/$name.log" 2>&1
    rc=$?
    kill $smi 2>/dev/null; wait $smi 2>/dev/null
    peak=$(sort -n "$OUT/mem-$name.txt" | tail -1)
    tps=$(sed -n 's/.*; \([0-9]*\) tokens\/s from step.*/\1/p' "$OUT/$name.log" | tail -1)
    loss=$(sed -n "s/^step $STEPS: train loss \([0-9.]*\), validation loss \([0-9.]*\);.*/\1 | \2/p" "$OUT/$name.log")
    if [ $rc -ne 0 ]; then
      why=$(grep -m1 -oiE 'out of memory|OutOfMemory|CUDA error[^;]*' "$OUT/$name.log" || echo "exit $rc")
      tps="failed: $why"; loss="- | -"
    fi
    echo "| $c | $b | $a | $p | $tps | $peak | ${loss:-- | -} |" | tee -a "$table"
  done
done
