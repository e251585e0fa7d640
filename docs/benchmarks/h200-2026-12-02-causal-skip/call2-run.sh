set -u
R=$(pwd)/.device/c2; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/*.cubin > $L/cubins.txt
which cuobjdump nvdisasm ncu > $L/tools.txt 2>&1; ls /usr/local/cuda*/bin >> $L/tools.txt 2>&1
cd flash-djl-cuda/src/test/python
for dt in bf16 f16; do
FLASH_FWD_FORM=long timeout 100 python3 bench_kernels.py $R/K.cubin $R/K.cubin --before-form short --dtype $dt --d 64 --n 128,256,512,1024,2048 --reps 10 --rounds 3 > $L/bench-K-forms-64-$dt.log 2>&1; snap
done
for d in 128 192; do
  timeout 150 ncu --clock-control none -k regex:"flash_fwd_bf16_hd$d" --launch-count 1 --section SourceCounters --section WarpStateStats \
    --section SchedulerStats --section InstructionStats --import-source no -o $L/rep$d python3 profile_dkdv.py $R/H$d.cubin --d $d --n 16384 > $L/ncu-run-d$d.log 2>&1
  ncu -i $L/rep$d.ncu-rep --page raw --csv > $L/raw-d$d.csv 2>&1
  ncu -i $L/rep$d.ncu-rep --page details --print-details all > $L/details-d$d.txt 2>&1
  ncu -i $L/rep$d.ncu-rep --page source --csv --print-source sass > $L/src-d$d.csv 2>&1
  rm -f $L/rep$d.ncu-rep; snap
done
ls -la $L
for f in $L/bench-*.log; do echo "$(basename $f)"; sed -n '/after\/before fwd/,$p' $f | grep -v -- '---'; done
head -c 1500 $L/src-d128.csv
