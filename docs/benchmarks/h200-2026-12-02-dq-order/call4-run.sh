set -u
. .device/env.sh > /dev/null
R=$(pwd)/.device/r4; L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
( JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true $JAVA_TOOL_OPTIONS" timeout 280 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1; echo "junit rc=$?" >> $L/gpu-tests.log ) &
JP=$!
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
# the kernels that changed (d = 64's 16-bit dK/dV kernel, every dtype) and the rest of the suite
timeout 100 python3 check_kernels.py $F --d 64,96,128 --seed 9401 > $L/check-kernels-d64-128.log 2>&1
timeout 100 python3 check_bias.py $F --d 64,128 --seed 9402 > $L/check-bias-d64-128.log 2>&1; snap
timeout 60 python3 check_dropout.py $F --seed 9403 > $L/check-dropout.log 2>&1
timeout 90 python3 check_sequences.py $F --seed 9404 > $L/check-seq.log 2>&1; snap
wait $JP; snap
tail -n 1 $L/check-*.log; tail -n 6 $L/gpu-tests.log
timeout 100 python3 bench_deterministic.py $F --d 64,96,128,192,256 --reps 10 > $L/det-F.log 2>&1; snap
tail -n 17 $L/det-F.log
