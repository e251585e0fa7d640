set -u
. .device/env.sh > /dev/null
L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
( JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true ${JAVA_TOOL_OPTIONS:-}" timeout 290 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1 ) &
JP=$!
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
# the kernels that changed: every unbiased ping-pong forward (empty turns on hidden key tiles; call 1 checked them
# on every head dim), and d = 64's switch points
timeout 100 python3 check_kernels.py $F --d 64 --seed 14001 > $L/check-kernels-64.log 2>&1; snap
timeout 60 python3 check_dropout.py $F --seed 14002 > $L/check-dropout.log 2>&1
FLASH_FWD_FORM=long timeout 60 python3 check_dropout.py $F --seed 14003 > $L/check-dropout-long.log 2>&1; snap
wait $JP; snap
tail -qn 1 $L/check-*.log; grep -E "tests (successful|failed|aborted|found)" $L/gpu-tests.log
timeout 200 python3 bench_kernels.py $F --d 64,96,128,192,256 --n 512,1024,2048,4096,8192,16384 --dtype bf16,f16 --reps 10 > $L/grid.log 2>&1; snap
python3 bench_bars.py $L/grid.log > $L/bars.txt 2>&1; snap
cat $L/bars.txt
