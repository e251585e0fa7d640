set -u
. .device/env.sh > /dev/null
R=$(pwd)/.device/r3; L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; O=$R/oldcp/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F $O > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
ROOT=$(pwd); mkdir -p runs
find . -path ./.device -prune -o -name '*.java' -print | sort | xargs cat > runs/corpus.txt
for k in 1 2; do for v in new old; do
  if [ $v = old ]; then C="$R/oldcp:$CP"; else C="$CP"; fi
  timeout 50 $JAVA -cp "$C" io.flashdjl.examples.gpt.GptExample --text runs/corpus.txt --large --context 4096 --batch 4 --steps 15 --eval-every 15 --warmup 5 --attention flash --precision full --out runs/gpt-$v-$k > $L/gpt-ctx4096-$v-$k.log 2>&1
  echo "$v $k $(grep '^trained' $L/gpt-ctx4096-$v-$k.log)"; done; done; snap
cd flash-djl-cuda/src/test/python
for X in F O; do eval FB=\$$X
  timeout 90 python3 bench_bias.py $FB --dtype float32 --d 32,64 --n 1024,4096 --window-n 0 --reps 10 --seed 5 > $L/bias-$X.log 2>&1; snap
  tail -n 14 $L/bias-$X.log; done
