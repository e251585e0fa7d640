set -u
. .device/env.sh > /dev/null
R=$(pwd)/.device/r6; L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; O=$R/oldcp/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F $O > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
ROOT=$(pwd); mkdir -p runs
( JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true $JAVA_TOOL_OPTIONS" timeout 270 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1; echo "junit rc=$?" >> $L/gpu-tests.log ) &
JP=$!
cd flash-djl-cuda/src/test/python
timeout 60 python3 check_dropout.py $F --seed 4601 > $L/check-dropout.log 2>&1
timeout 80 python3 check_kernels.py $F --dtype f32 --seed 4602 > $L/check-kernels-f32.log 2>&1
timeout 60 python3 check_bias.py $F --dtype f32 --seed 4603 > $L/check-bias-f32.log 2>&1; snap
wait $JP; snap
tail -n 1 $L/check-*.log; tail -n 6 $L/gpu-tests.log
cd $ROOT
find . -path ./.device -prune -o -name '*.java' -print | sort | xargs cat > runs/corpus.txt
for k in 1 2; do for v in new old; do
  if [ $v = old ]; then C="$R/oldcp:$CP"; else C="$CP"; fi
  timeout 50 $JAVA -cp "$C" io.flashdjl.examples.gpt.GptExample --text runs/corpus.txt --large --context 4096 --batch 4 --steps 15 --eval-every 15 --warmup 5 --attention flash --precision full --out runs/gpt-$v-$k > $L/gpt-ctx4096-$v-$k.log 2>&1
  echo "$v $k $(grep '^trained' $L/gpt-ctx4096-$v-$k.log)"; snap; done; done
cd flash-djl-cuda/src/test/python
timeout 100 python3 bench_precision.py $F --d 32,64,128 --n 1024,4096,16384 --reps 5 --full-max-n 16384 > $L/precision.log 2>&1; snap
tail -n 14 $L/precision.log
