set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
timeout 120 $JAVA -cp "$CP" io.flashdjl.cuda.GraphLaunchProbe > $L/graph-probe.log 2>&1; snap
# the GPT example as DJL trains it (float32, flash with BFLOAT16), graphs on and off in turns
mkdir -p runs; find . -path ./.device -prune -o -name '*.java' -print | sort | xargs cat > runs/corpus.txt
for c in 1024 512; do for i in 1 2; do for g in true false; do
  timeout 80 $JAVA -Dflashdjl.cuda.graphs=$g -cp "$CP" io.flashdjl.examples.gpt.GptExample --text runs/corpus.txt --large \
    --context $c --batch $((16384 / c)) --steps 20 --eval-every 20 --warmup 5 --attention flash --precision bfloat16 \
    --out runs/gpt-$c-$g-$i > $L/gpt-$c-graphs-$g-$i.log 2>&1
  echo "context $c graphs $g run $i: $(sed -n 's/.*; \([0-9]*\) tokens\/s from step.*/\1/p' $L/gpt-$c-graphs-$g-$i.log | tail -1) tokens/s; $(grep -m1 "^step 20:" $L/gpt-$c-graphs-$g-$i.log)" | tee -a $L/gpt-summary.txt
done; done; done; snap
grep "^|" $L/graph-probe.log; tail -n 3 $L/graph-probe.log | grep -i "error\|exception" 
