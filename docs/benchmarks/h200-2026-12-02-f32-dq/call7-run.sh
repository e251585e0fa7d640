set -u
. .device/env.sh > /dev/null
D=$(pwd)/.device; R=$D/r7; L=$OUT/logs; mkdir -p $L
snap() { tar czf $OUT/logs.tgz -C $OUT logs; }
sha256sum $R/oldcp/io/flashdjl/cuda/flash_attention.fatbin $D/classes/flash-djl-cuda-main/io/flashdjl/cuda/flash_attention.fatbin > $L/fatbins.txt
# call 4's failing case on the previous stop's kernels (89d8384's sm_90a fatbin first on the class path)
OLDJUNIT="$JAVA -jar $D/tools/junit-console.jar execute --class-path $R/oldcp:$CP --disable-banner"
JAVA_TOOL_OPTIONS="-Dflashdjl.cuda.sync=true -Dflashdjl.test.seed=-2858301674768156613 $JAVA_TOOL_OPTIONS" timeout 100 $OLDJUNIT --scan-class-path --include-classname '.*CudaBfloat16PrecisionTest' --details=flat --disable-ansi-colors > $L/replay-old.log 2>&1
echo "old: $(grep -c 'AssertionFailedError: CUDA' $L/replay-old.log) failures; $(grep -o 'dq: max abs error [0-9.e-]* exceeds 2 x PyTorch.s [0-9.e-]*' $L/replay-old.log | head -1)"; snap
grep -E "tests (successful|failed)" $L/replay-old.log
