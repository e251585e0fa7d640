set -u
. .device/env.sh > /dev/null
R=$(pwd)/.device/s16c1; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
M=$(pwd)/.device/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin
gunzip -kf $R/F.cubin.gz $R/T.cubin.gz; F=$R/F.cubin; T=$R/T.cubin
sha256sum $M $F $T > $L/fatbins.txt
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > $L/gpu.txt 2>&1
# DJL's JNI for this machine's torch, beside the checks
( bash .device/djl/jni-build.sh > $L/jni-build.log 2>&1 && mkdir -p $OUT/jni && cp .device/jni/libdjl_torch.so $OUT/jni/ ) &
JB=$!
cd flash-djl-cuda/src/test/python
# F: float32 rows in whole sectors (store_acc_row), the 3xTF32 forward's O through it; d 40 and 72: partial groups
timeout 90 python3 check_kernels.py $F --d 40,64,72,128 --dtype f32 --seed 17001 > $L/check-kernels-f32.log 2>&1; snap
timeout 60 python3 check_sequences.py $F --dtype f32bf16 --seed 17002 > $L/check-seq-f32bf16.log 2>&1; snap
timeout 60 python3 check_bias.py $F --d 64,128 --seed 17003 > $L/check-bias.log 2>&1; snap
timeout 60 python3 check_kernels.py $F --d 64,128,256 --dtype bf16 --quick --seed 17004 > $L/check-kernels-bf16.log 2>&1; snap
timeout 90 python3 bench_kernels.py $F $M --dtype f32bf16,f32 --d 64,128 --n 512,1024,4096 --reps 10 --rounds 2 > $L/bench-F-M-f32.log 2>&1; snap
# T: d = 128's forward by TMA, one 128-row box a tile (the experiment's harness: 5-D forward maps of 128-row boxes)
rm -rf /tmp/py && cp -r . /tmp/py && cp $R/flash_ctypes_box.py /tmp/py/flash_ctypes.py && cd /tmp/py
export FLASH_FWD_BOX_ROWS=128
timeout 60 python3 check_kernels.py $T --d 128 --dtype bf16 --seed 17005 > $L/check-kernels-T-bf16.log 2>&1; snap
timeout 40 python3 check_kernels.py $T --d 128 --dtype f16 --quick --seed 17006 > $L/check-kernels-T-f16.log 2>&1; snap
timeout 90 python3 bench_kernels.py $T $M --dtype bf16,f16 --d 128 --n 512,1024,2048,16384 --reps 10 --rounds 2 > $L/bench-T-M-128.log 2>&1; snap
for who in T M; do
  B=$T; [ $who = M ] && B=$M
  timeout 60 ncu --clock-control none -k regex:flash_fwd --launch-count 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
    -o $L/rep-$who-512 python3 profile_dkdv.py $B --d 128 --n 512 > $L/ncu-run-$who-512.log 2>&1
  ncu -i $L/rep-$who-512.ncu-rep --page raw --csv > $L/raw-$who-512.csv 2>&1
  ncu -i $L/rep-$who-512.ncu-rep --page details --print-details all > $L/details-$who-512.txt 2>&1
  rm -f $L/rep-$who-512.ncu-rep; snap
done
wait $JB; echo "jni rc=$?" >> $L/jni-build.log; snap
for f in $L/check-*.log; do echo "$(basename $f): $(tail -n 1 $f)"; done
tail -n 2 $L/jni-build.log
grep -h "Duration" $L/details-*.txt
python3 - $L/raw-T-512.csv $L/raw-M-512.csv <<'PY'
import csv, sys
for f in sys.argv[1:]:
    rows = list(csv.reader(open(f)))
    h = rows[0]; v = rows[2] if len(rows) > 2 else rows[-1]
    print(f.split('/')[-1], {h[i]: v[i] for i in range(len(h)) if h[i].startswith('lts__t_requests') or h[i].startswith('lts__t_tag_requests') or h[i] == 'gpu__time_duration.sum'})
PY
for f in $L/bench-*.log; do echo "$(basename $f)"; sed -n '/after\/before fwd/,$p' $f | grep -v -- '---'; done
