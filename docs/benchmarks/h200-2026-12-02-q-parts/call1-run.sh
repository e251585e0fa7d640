set -u
R=$(pwd)/.device/s15c1; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
M=$R/M.fatbin
sha256sum $R/R.cubin $M > $L/cubins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
cd flash-djl-cuda/src/test/python
timeout 60 python3 same_outputs.py $M $R/R.cubin --dtype bfloat16 --d 64,96,128,192,256 --seed 16001 > $L/same-bf16.log 2>&1; echo "same bf16 rc=$?" >> $L/rc.txt; snap
timeout 60 python3 same_outputs.py $M $R/R.cubin --dtype float16 --d 64,128,256 --seed 16002 > $L/same-f16.log 2>&1; echo "same f16 rc=$?" >> $L/rc.txt; snap
timeout 80 python3 check_kernels.py $R/R.cubin --d 64,96,128,192,256 --dtype bf16 --seed 16003 > $L/check-kernels-bf16.log 2>&1; snap
for d in 256 192 128; do timeout 50 python3 bench_kernels.py $R/R.cubin $M --dtype bf16 --d $d --n 2048,16384 --reps 10 --rounds 2 > $L/bench-R-M-$d.log 2>&1; snap; done
# the N = 512 forward beside cuDNN's (ours from main's fatbin), and 16k for reference
for n in 512 16384; do
 for who in ours cudnn; do
  if [ $who = ours ]; then K=regex:flash_fwd; X=""; else K=regex:"fprop|fwd|flash"; X="--sdpa cudnn"; fi
  timeout 90 ncu --clock-control none -k $K --launch-count 1 --section SpeedOfLight --section ComputeWorkloadAnalysis \
    --section WarpStateStats --section SchedulerStats --section LaunchStats --section Occupancy --section MemoryWorkloadAnalysis \
    -o $L/rep-$who-$n python3 profile_dkdv.py $M --d 128 --n $n $X > $L/ncu-run-$who-$n.log 2>&1
  ncu -i $L/rep-$who-$n.ncu-rep --page raw --csv > $L/raw-$who-$n.csv 2>&1
  ncu -i $L/rep-$who-$n.ncu-rep --page details --print-details all > $L/details-$who-$n.txt 2>&1
  rm -f $L/rep-$who-$n.ncu-rep; snap
 done
done
timeout 60 python3 check_kernels.py $R/R.cubin --d 64,96,128,192,256 --dtype f16 --seed 16004 > $L/check-kernels-f16.log 2>&1; snap
timeout 40 python3 bench_kernels.py $R/R.cubin $M --dtype bf16 --d 64 --n 1024,2048,16384 --reps 10 --rounds 2 > $L/bench-R-M-64.log 2>&1; snap
timeout 40 python3 check_bias.py $R/R.cubin --d 128,256 --seed 16005 > $L/check-bias.log 2>&1; snap
FLASH_FWD_FORM=long timeout 30 python3 check_kernels.py $R/R.cubin --d 64 --dtype bf16 --seed 16006 > $L/check-kernels-64-long.log 2>&1; snap
timeout 40 python3 check_dropout.py $R/R.cubin --seed 16007 > $L/check-dropout.log 2>&1; snap
cat $L/rc.txt; tail -n 3 $L/same-*.log
tail -qn 1 $L/check-*.log
grep -h "Duration\|Compute (SM) Throughput\|Grid Size" $L/details-*.txt
for f in $L/bench-*.log; do echo "$(basename $f)"; sed -n '/after\/before fwd/,$p' $f | grep -v -- '---'; done
