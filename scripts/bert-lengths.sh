#!/usr/bin/env bash
# The BERT example at sequence 512 and 2048 on the CUDA machine (issue 12, item 5), from the project root after
# scripts/device/stage (with DJL's JNI for that machine's torch in .device/jni/). Every run trains the same
# float32 encoder ($LAYERS layers, embedding $EMBEDDING, $HEADS heads; default 4, 256, 4: heads of 64; dropout 0.1
# on attention probabilities and residuals)
# on this repository's Java sources, character level, padded batches with about 30% padding and DJL's [B, T, T]
# key-padding masks, the same seed and 16384 positions per step, once with DJL's own attention block and once
# with FlashAttentionBlock swapped in (full precision, and bfloat16 products). Peak device memory is the most
# nvidia-smi saw the process hold (CUDA context and PyTorch's cache included).
#
#   scripts/bert-lengths.sh [SEQUENCE ...]     default: 512 2048
# Results go to $OUT (or ./runs/bert-lengths): one log per run and a table, bert-lengths.md.
set -u
OUT=${OUT:-runs/bert-lengths}
POSITIONS=${POSITIONS:-16384}
STEPS=${STEPS:-30}
LIMIT=${LIMIT:-240}
LAYERS=${LAYERS:-4}
EMBEDDING=${EMBEDDING:-256}
HEADS=${HEADS:-4}
mkdir -p "$OUT" runs
. .device/env.sh
find . -path ./.device -prune -o -name '*.java' -print | sort | xargs cat > runs/corpus.txt
lengths=("$@")
[ ${#lengths[@]} -gt 0 ] || lengths=(512 2048)
table="$OUT/bert-lengths.md"
[ -f "$table" ] || {
  echo "| layers x embedding | sequence | batch | attention | precision | tokens/s (steady) | peak GPU memory (MiB) | last line |"
  echo "| --- | ---: | ---: | --- | --- | ---: | ---: | --- |"; } > "$table"
for t in "${lengths[@]}"; do
  b=$((POSITIONS / t))
  for mode in djl:full flash:full flash:bfloat16; do
    a=${mode%%:*}; p=${mode##*:}
    name="l$LAYERS-e$EMBEDDING-seq$t-$a-$p"
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/mem-$name.txt" &
    smi=$!
    timeout "$LIMIT" $JAVA -cp "$CP" io.flashdjl.examples.bert.BertExample --text runs/corpus.txt --layers "$LAYERS" \
      --embedding "$EMBEDDING" --heads "$HEADS" --sequence "$t" --batch "$b" --steps "$STEPS" --eval-every "$STEPS" \
      --padding 0.3 --dropout 0.1 --attention "$a" --precision "$p" > "$OUT/$name.log" 2>&1
    rc=$?
    kill $smi 2>/dev/null; wait $smi 2>/dev/null
    peak=$(sort -n "$OUT/mem-$name.txt" | tail -1)
    tps=$(sed -n 's/^\([0-9]*\) tokens\/s from step.*/\1/p' "$OUT/$name.log" | tail -1)
    last=$(grep "^step $STEPS:" "$OUT/$name.log" | head -1)
    if [ $rc -ne 0 ]; then
      why=$(grep -m1 -oiE 'out of memory|OutOfMemory|CUDA error[^;]*' "$OUT/$name.log" || echo "exit $rc")
      tps="failed: $why"
    fi
    echo "| $LAYERS x $EMBEDDING | $t | $b | $a | $p | $tps | $peak | ${last:--} |" | tee -a "$table"
  done
done
