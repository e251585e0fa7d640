set -u
. .device/env.sh
R=$(pwd)/.device/r4; L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; H=$R/head.fatbin
sha256sum $F $H > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
ROOT=$(pwd)
cd flash-djl-cuda/src/test/python
timeout 100 python3 bench_kernels.py $F $H --dtype f32 --d 32,64,96,128 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-f-head.log 2>&1; snap
tail -n 3 $L/bench-f-head.log
timeout 150 python3 bench_precision.py $F --d 32,64,128 --n 1024,4096,16384 --reps 5 --full-max-n 16384 > $L/precision.log 2>&1; snap
grep -v "^d=" $L/precision.log | tail -n 25
cd $ROOT; mkdir -p runs
find . -path ./.device -prune -o -name '*.java' -print | sort | xargs cat > runs/corpus.txt
for spec in "4096 flash" "4096 naive" "1024 flash" "8192 flash"; do set -- $spec
  timeout 60 $JAVA -cp "$CP" io.flashdjl.examples.gpt.GptExample --text runs/corpus.txt --large --context $1 --batch $((16384 / $1)) --steps 15 --eval-every 15 --warmup 5 --attention $2 --precision full --out runs/gpt-$1-$2 > $L/gpt-ctx$1-$2-full.log 2>&1
  grep "^trained" $L/gpt-ctx$1-$2-full.log; done; snap
JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true $JAVA_TOOL_OPTIONS" timeout 240 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1; echo "junit rc=$?" >> $L/gpu-tests.log; snap
tail -n 8 $L/gpu-tests.log
cd flash-djl-cuda/src/test/python; timeout 40 python3 check_kernels.py $F --dtype f32 --d 32 --seed 1401 > $L/check-kernels-d32.log 2>&1; timeout 40 python3 check_bias.py $F --dtype f32 --seed 1402 > $L/check-bias.log 2>&1; snap
tail -n 1 $L/check-kernels-d32.log $L/check-bias.log
