set -u
. .device/env.sh > /dev/null
R=$(pwd)/.device/s15c6; L=$OUT/logs; mkdir -p $L
N=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; F=$R/F.fatbin
sha256sum $N $F > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
( JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true ${JAVA_TOOL_OPTIONS:-}" timeout 250 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1 ) &
JP=$!
cd flash-djl-cuda/src/test/python
# store_acc_row: every dK/dV kernel's epilogue (wgmma, mma.sync at d = 32, 3xTF32) and the wgmma forwards' O
timeout 100 python3 check_kernels.py $N --d 32,64,96,128,192,256 --dtype bf16 --seed 16301 > $L/check-kernels-bf16.log 2>&1; snap
timeout 80 python3 check_kernels.py $N --d 64,128,256 --dtype f16 --seed 16302 > $L/check-kernels-f16.log 2>&1; snap
timeout 60 python3 check_kernels.py $N --d 64,128 --dtype f32 --seed 16303 > $L/check-kernels-f32.log 2>&1; snap
timeout 60 python3 check_bias.py $N --d 64,128,256 --seed 16304 > $L/check-bias.log 2>&1; snap
timeout 60 python3 check_sequences.py $N --dtype f32bf16 --seed 16305 > $L/check-seq-f32bf16.log 2>&1; snap
timeout 40 python3 check_dropout.py $N --seed 16306 > $L/check-dropout.log 2>&1; snap
wait $JP; snap
for n in 512 1024; do
  timeout 60 python3 bench_kernels.py $N $F --dtype bf16 --d 64,96,128,192,256 --n $n --reps 10 --rounds 2 > $L/bench-N-F-bf16-$n.log 2>&1; snap
done
for f in $L/check-*.log; do echo "$(basename $f): $(tail -n 1 $f)"; done
grep -E "tests (successful|failed|aborted|found)" $L/gpu-tests.log
for f in $L/bench-*.log; do echo "$(basename $f)"; sed -n '/after\/before fwd/,$p' $f | grep -v -- '---'; done
