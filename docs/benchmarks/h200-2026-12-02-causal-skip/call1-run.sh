set -u
R=$(pwd)/.device/c1; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
timeout 150 python3 check_kernels.py $R/K.cubin --d 64,96,128,192,256 --dtype bf16 --seed 11001 > $L/check-kernels-bf16.log 2>&1
timeout 150 python3 check_kernels.py $R/K.cubin --d 64,96,128,192,256 --dtype f16 --seed 11002 > $L/check-kernels-f16.log 2>&1
FLASH_FWD_FORM=long timeout 60 python3 check_kernels.py $R/K.cubin --d 64 --dtype bf16 --seed 11003 > $L/check-kernels-64-long.log 2>&1
timeout 120 python3 check_sequences.py $R/K.cubin --dtype bf16 --seed 11004 > $L/check-seq-bf16.log 2>&1
timeout 60 python3 check_sequences.py $R/K.cubin --dtype f16 --seed 11005 > $L/check-seq-f16.log 2>&1
snap; tail -n 1 $L/check-*.log
if grep -q " 0 failed" $L/check-kernels-bf16.log; then
for d in 64 192 256; do timeout 100 python3 bench_kernels.py $R/K.cubin $R/H$d.cubin --dtype bf16 --d $d --n 1024,2048,4096,16384 --reps 10 --rounds 2 > $L/bench-K-H-$d.log 2>&1; snap; done
FLASH_FWD_FORM=long timeout 60 python3 bench_kernels.py $R/K.cubin $R/K.cubin --before-form short --dtype bf16 --d 64 --n 512,1024,2048 --reps 10 --rounds 2 > $L/bench-K-forms-64.log 2>&1; snap
fi
for d in 128 192; do
  timeout 100 ncu --clock-control none -k regex:"flash_fwd_bf16_hd$d" --launch-count 1 --section SpeedOfLight --section WarpStateStats \
    --section SourceCounters --section ComputeWorkloadAnalysis --section InstructionStats --section Occupancy \
    python3 profile_dkdv.py $R/H$d.cubin --d $d --n 16384 > $L/ncu-fwd-d$d.log 2>&1; snap
done
for f in $L/bench-*.log; do echo "$(basename $f)"; sed -n '/after\/before fwd/,$p' $f | grep -v -- '---'; done
grep -E "Duration|Stall|Issued Ipc|Pipe|No Eligible|Warp Cycles" $L/ncu-fwd-d128.log | head -30
