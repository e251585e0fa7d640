set -u
R=$(pwd)/.device/r1
L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
W=$R/W.fatbin; O=$R/OLD.fatbin
sha256sum $W $O > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
cd flash-djl-cuda/src/test/python
python3 -c "import torch;print(torch.__version__, torch.backends.cudnn.version())" >> $L/gpu.txt 2>&1
timeout 90 python3 check_bias.py $W --dtype f32 --seed 4101 > $L/check-bias-f32.log 2>&1
timeout 90 python3 check_sequences.py $W --dtype f32 --seed 4102 > $L/check-seq-f32.log 2>&1
timeout 90 python3 check_dropout.py $W > $L/check-dropout.log 2>&1
timeout 90 python3 same_outputs.py $O $W --dtype float32 --seed 4103 > $L/same-outputs.log 2>&1; snap
tail -n 2 $L/check-*.log $L/same-outputs.log
for r in 1 2; do
  for v in W O; do
    F=$R/$v.fatbin
    timeout 150 python3 bench_bias.py $F --dtype float32 --d 32,64,128 --n 1024,4096 --window-n 0 --reps 10 --seed 5 > $L/bias-$v-$r.log 2>&1; snap
  done
done
tail -n 40 $L/bias-W-1.log
# where the float32 d = 64 dK/dV and forward kernels wait (W; unbiased kernels byte-identical to the head's)
timeout 120 ncu --clock-control none -k regex:'flash_(fwd|bwd_dkdv)_f32_hd64' --launch-count 2 --section SpeedOfLight \
  --section Occupancy --section WarpStateStats --section SchedulerStats --section InstructionStats \
  python3 profile_dkdv.py $W --dtype float32 --d 64 --n 4096 > $L/ncu-d64.log 2>&1; snap
timeout 120 ncu --clock-control none -k regex:flash_bwd_dkdv_f32_hd64 --launch-count 1 --section WarpStateStats \
  --section SourceCounters -o $OUT/pc python3 profile_dkdv.py $W --dtype float32 --d 64 --n 4096 > $L/ncu-pc.log 2>&1
ncu -i $OUT/pc.ncu-rep --page source --csv --print-source sass > $L/pc.csv 2>>$L/ncu-pc.log
python3 pc_summary.py $L/pc.csv --top 40 > $L/pc-summary.txt 2>&1; rm -f $OUT/pc.ncu-rep $L/pc.csv; snap
grep -E "Duration|Compute \(SM\) Throughput|Issue Slots Busy|Registers Per|Achieved Occupancy" $L/ncu-d64.log
head -40 $L/pc-summary.txt
