set -u
. .device/env.sh > /dev/null
R=$(pwd)/.device/r2; L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; O=$R/old.fatbin; E=$R/e.fatbin; E2=$R/e2.fatbin
sha256sum $F $O $E $E2 > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
ROOT=$(pwd)
cd flash-djl-cuda/src/test/python
timeout 70 python3 bench_kernels.py $F $O --dtype f32 --d 32,64 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-f-old.log 2>&1; snap
tail -n 15 $L/bench-f-old.log
timeout 60 python3 bench_kernels.py $E $F --dtype f32 --d 128 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-e-f.log 2>&1
timeout 40 python3 bench_kernels.py $E2 $F --dtype f32 --d 64 --n 1024,4096,16384 --reps 10 --rounds 2 > $L/bench-e2-f.log 2>&1; snap
tail -n 9 $L/bench-e-f.log; tail -n 9 $L/bench-e2-f.log
( cd $ROOT; JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true $JAVA_TOOL_OPTIONS" timeout 250 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1; echo "junit rc=$?" >> $L/gpu-tests.log ) &
JP=$!
timeout 60 python3 check_kernels.py $E --dtype f32 --d 128 --seed 3711 > $L/check-kernels-e-d128.log 2>&1
timeout 100 python3 check_kernels.py $F --dtype f32 --seed 3712 > $L/check-kernels-f.log 2>&1; snap
timeout 40 python3 check_bias.py $F --dtype f32 --seed 3713 > $L/check-bias-f.log 2>&1
timeout 40 python3 check_sequences.py $F --dtype f32 --seed 3713 > $L/check-seq-f.log 2>&1
timeout 40 python3 check_dropout.py $F --seed 3713 > $L/check-dropout-f.log 2>&1
timeout 40 python3 f32_error_study.py $F --seeds 40 --d 32,64,128 > $L/err-f.log 2>&1; snap
wait $JP; snap
for f in $L/check-*.log; do echo "== $f"; tail -n 1 $f; done; grep "^| [0-9]" $L/err-f.log; tail -n 6 $L/gpu-tests.log
timeout 80 python3 bench_precision.py $F --d 32,64 --n 1024,4096,16384 --reps 5 --full-max-n 16384 > $L/precision.log 2>&1; snap
grep -v "^d=" $L/precision.log | tail -n 16
cd $ROOT; mkdir -p runs
find . -path ./.device -prune -o -name '*.java' -print | sort | xargs cat > runs/corpus.txt
for spec in "4096 flash" "4096 naive"; do set -- $spec
  timeout 50 $JAVA -cp "$CP" io.flashdjl.examples.gpt.GptExample --text runs/corpus.txt --large --context $1 --batch $((16384 / $1)) --steps 15 --eval-every 15 --warmup 5 --attention $2 --precision full --out runs/gpt-$1-$2 > $L/gpt-ctx$1-$2-full.log 2>&1
  grep "^trained" $L/gpt-ctx$1-$2-full.log; done; snap
