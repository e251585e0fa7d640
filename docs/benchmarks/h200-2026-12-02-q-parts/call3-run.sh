set -u
. .device/env.sh > /dev/null
R=$(pwd)/.device/s15c3; L=$OUT/logs; mkdir -p $L; gunzip -kf $R/W1.cubin.gz
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin; W=$R/W1.cubin
sha256sum $F $W > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
( JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true ${JAVA_TOOL_OPTIONS:-}" timeout 290 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1 ) &
JP=$!
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
# O's 16-byte chunks touch every wgmma forward's epilogue (16-bit and float32 outputs); d >= 192's rescale skip
timeout 100 python3 check_kernels.py $F --d 64,96,128,192,256 --dtype bf16 --seed 16201 > $L/check-kernels-bf16.log 2>&1; snap
timeout 100 python3 check_kernels.py $F --d 64,96,128,192,256 --dtype f16 --seed 16202 > $L/check-kernels-f16.log 2>&1; snap
timeout 60 python3 check_bias.py $F --d 64,128,256 --seed 16203 > $L/check-bias.log 2>&1; snap
timeout 60 python3 check_sequences.py $F --dtype f32bf16 --seed 16204 > $L/check-seq-f32bf16.log 2>&1; snap
FLASH_FWD_FORM=long timeout 30 python3 check_kernels.py $F --d 64 --dtype bf16 --seed 16205 > $L/check-kernels-64-long.log 2>&1; snap
timeout 40 python3 check_dropout.py $F --seed 16206 > $L/check-dropout.log 2>&1; snap
wait $JP; snap
for n in 512 1024 16384; do
  timeout 70 python3 bench_kernels.py $F $W --dtype bf16 --d 64,96,128,192,256 --n $n --reps 10 --rounds 2 > $L/bench-F-W-bf16-$n.log 2>&1; snap
done
for f in $L/check-*.log; do echo "$(basename $f): $(tail -n 1 $f)"; done
grep -E "tests (successful|failed|aborted|found)" $L/gpu-tests.log
for f in $L/bench-*.log; do echo "$(basename $f)"; sed -n '/after\/before fwd/,$p' $f | grep -v -- '---'; done
