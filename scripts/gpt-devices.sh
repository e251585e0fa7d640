#!/usr/bin/env bash
# The GPT example data-parallel over several GPUs (issue 11, item 4), on a machine with at least that
# many, from the project root after scripts/device/stage: the float32 --large model, flash attention at
# its default precision, the same seed and global batch on 1 and on N devices.
#
#   scripts/gpt-devices.sh [N]         default 2
# Results go to $OUT (or ./runs/gpt-devices): the two logs and gpt-devices.md.
set -u
OUT=${OUT:-runs/gpt-devices}
N=${1:-2}
CONTEXT=${CONTEXT:-2048}
BATCH=${BATCH:-16}
STEPS=${STEPS:-20}
mkdir -p "$OUT" runs
. .device/env.sh
find . -path ./.device -prune -o -name '*.java' -print | sort | xargs cat > runs/corpus.txt
table="$OUT/gpt-devices.md"
echo "| devices | context | global batch | tokens/s (steady) | train loss | validation loss |" > "$table"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |" >> "$table"
for d in 1 "$N"; do
  log="$OUT/devices-$d.log"
  timeout "${LIMIT:-120}" $JAVA -cp "$CP" io.flashdjl.examples.gpt.GptExample --text runs/corpus.txt --large \
    --context "$CONTEXT" --batch "$BATCH" --steps "$STEPS" --eval-every "$STEPS" --warmup 5 --devices "$d" \
    --out "runs/gpt-devices-$d" > "$log" 2>&1 || echo "devices $d: exit $?" >> "$table"
  tps=$(sed -n 's/.*; \([0-9]*\) tokens\/s from step.*/\1/p' "$log" | tail -1)
  loss=$(sed -n "s/^step $STEPS: train loss \([0-9.]*\), validation loss \([0-9.]*\);.*/\1 | \2/p" "$log")
  echo "| $d | $CONTEXT | $BATCH | ${tps:-failed} | ${loss:-- | -} |" | tee -a "$table"
done
