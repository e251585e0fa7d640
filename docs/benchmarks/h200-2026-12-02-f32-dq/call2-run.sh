set -u
. .device/env.sh > /dev/null
R=$(pwd)/.device/r2; L=$OUT/logs; mkdir -p $L
F=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
sha256sum $F $R/*.cubin > $L/fatbins.txt
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
( JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true $JAVA_TOOL_OPTIONS" timeout 270 $JUNIT --scan-class-path --include-tag gpu --details=flat --disable-ansi-colors > $L/gpu-tests.log 2>&1; echo "junit rc=$?" >> $L/gpu-tests.log ) &
JP=$!
cd flash-djl-cuda/src/test/python
timeout 60 python3 check_dropout.py $F --seed 5201 > $L/check-dropout.log 2>&1
timeout 80 python3 check_kernels.py $F --dtype f32 --seed 5202 > $L/check-kernels-f32.log 2>&1
timeout 60 python3 check_bias.py $F --dtype f32 --seed 5203 > $L/check-bias-f32.log 2>&1
timeout 60 python3 check_sequences.py $F --dtype f32 --seed 5204 > $L/check-seq-f32.log 2>&1; snap
wait $JP; snap
tail -n 1 $L/check-*.log; tail -n 6 $L/gpu-tests.log
for c in N B32; do timeout 60 python3 bench_deterministic.py $R/$c.cubin --dtype f32 --d 32 --n 1024,4096 --reps 10 --bias key-pad,docs,alibi --seed 7 > $L/det-bias32-$c.log 2>&1; snap; done
paste <(grep -E "^\| 32" $L/det-bias32-N.log | cut -c1-80) <(grep -E "^\| 32" $L/det-bias32-B32.log | cut -d'|' -f6-7)
timeout 90 python3 bench_deterministic.py $F --dtype f32 --d 32,64,128 --n 1024,4096,16384 --reps 10 > $L/det-f32-F.log 2>&1; snap
tail -n 18 $L/det-f32-F.log
# where the 16-bit deterministic backward's time goes at d = 128 (kernel durations, both modes)
for m in "" "--deterministic"; do for c in "" "--causal"; do
  timeout 90 ncu --clock-control none -k regex:'flash_bwd_(dkdv|dq)_bf16_hd128' --section SpeedOfLight --section Occupancy \
    --section WarpStateStats --section SchedulerStats python3 profile_dkdv.py $F --d 128 --n 16384 $m $c > $L/ncu-d128$m$c.log 2>&1; snap
done; done
grep -E "flash_bwd|Duration|Issue Slots Busy|Compute \(SM\) Throughput" $L/ncu-d128*.log
