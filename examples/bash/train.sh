#!/usr/bin/env bash
# A fake training loop in bash that reports to sweepkit through the line protocol (docs/line-protocol.md).
#   bash train.sh --lr=0.01 --epochs=10          # by hand: prints the metrics
#   sweepkit run sweep.yaml                       # in a sweep: appends them to $SWEEPKIT_CHANNEL
# The sweep passes the trial's params as --key=value arguments (`${args}` in sweep.yaml).
set -euo pipefail

lr=0.01
epochs=10
dropout=0.1
epoch_seconds=0.5 # stands in for an epoch's real work
for arg in "$@"; do
  case $arg in
    --lr=*) lr=${arg#*=} ;;
    --epochs=*) epochs=${arg#*=} ;;
    --dropout=*) dropout=${arg#*=} ;;
    --epoch_seconds=*) epoch_seconds=${arg#*=} ;;
    *) echo "train.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

# The runner sends SIGTERM to the whole process group when it stops the trial for good: leave at once.
trap 'echo "train.sh: terminated" >&2; exit 143' TERM
# It checks the stop file (below): said once, so a pruned trial gets a few seconds to leave on its own.
if [[ -n ${SWEEPKIT_CHANNEL:-} ]]; then printf '{"event": "stop_check"}\n' >>"$SWEEPKIT_CHANNEL"; fi

report() { # one JSON object per line, built whole and written with one printf: appends stay intact
  if [[ -n ${SWEEPKIT_CHANNEL:-} ]]; then
    printf '{"step": %d, "val_loss": %s}\n' "$1" "$2" >>"$SWEEPKIT_CHANNEL"
  else
    printf 'step %d: val_loss=%s\n' "$1" "$2"
  fi
}

for ((epoch = 0; epoch < epochs; epoch++)); do
  if [[ -n ${SWEEPKIT_STOP_FILE:-} && -e $SWEEPKIT_STOP_FILE ]]; then
    echo "train.sh: stopped by the sweep after $epoch epochs"
    exit 0
  fi
  sleep "$epoch_seconds" &
  wait $! # `wait` lets the TERM trap run at once; a foreground sleep would delay it
  # bash has no floating point: awk computes a loss that is smallest near lr=0.03 and falls with each epoch.
  loss=$(awk -v lr="$lr" -v d="$dropout" -v e="$epoch" 'BEGIN {
    x = log(lr / 0.03); printf "%.6f", 0.2 + 0.1 * x * x + 0.3 * d * d + 1.0 / (e + 1) }')
  report "$epoch" "$loss"
done
