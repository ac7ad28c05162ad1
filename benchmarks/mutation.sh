#!/usr/bin/env bash
# Mutation testing of ufo/tomo and ufo/kernels with cosmic-ray (docs/mutation.md has the results).
#
#   benchmarks/mutation.sh [MODULE ...]         run the listed modules (default: all of MODULES below);
#                                               MUTATION_BASELINE=1: without tests/test_tomo_mutants.py
#   benchmarks/mutation.sh rerun MODULE ...     run the survivors of a run again, on the checkout's
#                                               current tests (the tests added for them)
#   benchmarks/mutation.sh report MODULE ...    counts per module and every survivor with its diff
#   benchmarks/mutation.sh test MODULE          the test command cosmic-ray runs for each mutant
#
# cosmic-ray rewrites source files in place, so everything happens in a copy of the tree under
# $MUTATION_DIR (default /tmp/ufo-mutation): the checkout's ufo/ is never touched. In the copy
# `ufo` is imported from the copy (PYTHONPATH; the editable install's finder comes after it).
# Needs: pip install cosmic-ray (the `mutation` extra). One process at a time (2-core CI boxes).
#
# Numba: kernels are compiled with cache=True, and numba's cache is keyed on the source file's
# modification time and size, so a mutant of the same size written within the same second could
# be served the unmutated machine code. Modules holding @njit code therefore get a fresh, empty
# NUMBA_CACHE_DIR for every mutant (the mutant is really compiled); pure-Python modules share one
# cache warmed before the run (the kernels they call are not mutated there).
set -euo pipefail

MODULES=(filters backproject fbp grid flat phase halftomo dfi median convert spots rings outliers wedge flat_runs)

path_of() {
  case "$1" in
    backproject | flat | median | convert | spots | wedge) echo "ufo/kernels/$1.py" ;;
    *) echo "ufo/tomo/$1.py" ;;
  esac
}

# Fast test selections per module (seconds each); tests/test_tomo_mutants.py holds the tests the
# first run showed missing, named test_<module>_... so that `-k <module>_` selects them.
selection() {
  local T=tests/test_tomo.py G=tests/test_geometry.py M=tests/test_tomo_mutants.py
  case "$1" in
    filters) echo "$T $M -k ramp_equals|parzen_and_butterworth|float64_reference|fft_filter_ifft|angle_offset|filters_" ;;
    backproject) echo "$T $G $M tests/test_backproject_edges.py -k float64_reference|stacked_and_single|roi_is_a_window|angle_offset|weights|backproject_|backprojection_is" ;;
    # fbp: scikit-image's and ASTRA's comparisons and the live-stream timing test cost 10 s a run and check
    # nothing the float64 references do not
    fbp) echo "tests/test_fbp_mutants.py $T tests/test_backproject_batching.py $M -k (float64_reference|stacked_and_single|roi_is_a_window|angle_offset|nan_in_sinogram|transpose_projections|projections_where|batch_size|fbp_|backproject_) and not (scikit_image|astra|slow_live)" ;;
    # grid: the slice grid fbp held until the GPU path needed it without SciPy and numba (tomo/grid.py)
    grid) echo "$T $M -k float64_reference|stacked_and_single|roi_is_a_window|angle_offset|backproject_|fbp_region_to_the_edge" ;;
    flat) echo "$T $M -k flat_field|flats_before|flat_" ;;
    phase) echo "$T $M -k paganin|phase_" ;;
    # halftomo, dfi: small analytic data against closed forms and float64 references (seconds); test_dfi.py's
    # 256-pixel phantom cases and its exact sum at 64 pixels take 40 s a run and check no other code
    halftomo) echo "tests/test_halftomo_mutants.py $G -k halftomo_|half_acquisition_on_either_edge|backproject_task_refuses" ;;
    dfi) echo "tests/test_dfi_mutants.py -k dfi_" ;;
    # median, convert, spots, rings (and outliers): tests/test_kernels_mutants.py against scipy.ndimage and numpy
    median | convert | spots | rings) echo "tests/test_kernels_mutants.py -k $1_" ;;
    # outliers: also the rows read with a row (tests/test_outliers_bands.py, whose module name `-k outliers_` selects)
    outliers) echo "tests/test_kernels_mutants.py tests/test_outliers_bands.py -k outliers_" ;;
    # wedge: one_weight_fits by hand, angle_weights' regular, irregular and missing-wedge cases (the wedge limit)
    wedge) echo "tests/test_scan_ranges.py $G $M tests/test_kernels_mutants.py -k one_weight_fits|regular_weights|irregular_weights|missing_wedge|randomly_spaced|wedge_" ;;
    # flat_runs: all of tests/test_flat_runs.py (3 s: the task and ufo reco on a drifting beam) and the mutants' tests
    flat_runs) echo "tests/test_flat_runs.py tests/test_flat_runs_mutants.py -k linear_interpolation|beam_of_their_time|interpolates_the_runs|flat_runs_" ;;
  esac
}

has_njit() { grep -q "numba.njit" "$(path_of "$1")"; }

run_tests() {
  local module=$1 files expr
  read -r -a files <<<"$(selection "$module" | sed 's/ -k .*//')"
  expr=$(selection "$module" | sed 's/.* -k //; s/|/ or /g; s/not_gpu/not gpu/')
  local kept=() f
  for f in "${files[@]}"; do  # a mutants' test file not there (MUTATION_BASELINE, or not written yet): left out
    if [[ -f $f || $f != *_mutants.py ]]; then kept+=("$f"); fi
  done
  files=("${kept[@]}")
  if has_njit "$module"; then
    NUMBA_CACHE_DIR=$(mktemp -d /tmp/ufo-mutation-numba.XXXXXX)
    export NUMBA_CACHE_DIR
    trap 'rm -rf "$NUMBA_CACHE_DIR"' EXIT
  fi
  # the hypothesis, zarr, anyio and platformdirs plugins take 2/3 of pytest's start-up and no test here uses them
  PYTHONPATH=$PWD python -m pytest -x -q -p no:cacheprovider -p no:hypothesispytest -p no:zarr -p no:anyio \
    -p no:platformdirs -W ignore ${files[*]} -k "$expr"
}

WORK=${MUTATION_DIR:-/tmp/ufo-mutation}
SRC=$(cd "$(dirname "$0")/.." && pwd)
TREE=$WORK/tree

# One in-place change per mutant: an operator's boundary or negation, + <-> -, * <-> /, a number
# +-1, a removed `not`, a loop run zero times, True <-> False, and <-> or, an exception type.
# Left out: the other ten replacements of each binary operator (bit operators on floats: killed by
# a TypeError, they inflate the score), RemoveDecorator (dropping @njit is the same function, only
# slower) and VariableReplacer/VariableInserter (random).
write_operators() {
  cat >"$WORK/operators.toml" <<'EOF'
[cosmic-ray]
module-path = "PLACEHOLDER"
timeout = 240.0
excluded-modules = []
test-command = "PLACEHOLDER"
[cosmic-ray.distributor]
name = "local"
[cosmic-ray.filters.operators-filter]
exclude-operators = [
  "core/ReplaceBinaryOperator_(?!(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Mod_FloorDiv|Pow_Mul)$)",
  "core/ReplaceComparisonOperator_(?!(Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Lt_GtE|LtE_Gt|Gt_LtE|GtE_Lt|Is_IsNot|IsNot_Is)$)",
  "core/ReplaceUnaryOperator_(?!(USub_UAdd|Delete_USub|Delete_Not)$)",
  "core/RemoveDecorator",
  "core/Variable(Replacer|Inserter)",
]
EOF
}


# NumberReplacer makes two mutants of every number (+1 and -1, occurrences 2k and 2k+1); to fit the
# time, only the even occurrence of each runs (one offset per number), the odd one is skipped.
skip_second_offsets() {
  python - "$1" <<'PY'
import sys
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkResult, WorkerOutcome

with use_db(sys.argv[1], WorkDB.Mode.open) as db:
    for item in list(db.pending_work_items):
        m = item.mutations[0]
        if m.operator_name == "core/NumberReplacer" and m.occurrence % 2:
            db.set_result(item.job_id, WorkResult(output="second offset", worker_outcome=WorkerOutcome.SKIPPED))
PY
}

report() {
  python - "$@" <<'PY'
import collections, json, subprocess, sys

for db in sys.argv[1:]:
    rows = [json.loads(line) for line in subprocess.run(["cosmic-ray", "dump", db], capture_output=True,
                                                         text=True, check=True).stdout.splitlines()]
    counts, survivors = collections.Counter(), []
    for item, result in rows:
        if result is None:
            counts["pending"] += 1
        elif result["worker_outcome"] == "skipped":
            counts["skipped"] += 1
        elif result["worker_outcome"] != "normal":
            counts[result["worker_outcome"]] += 1
        elif result["test_outcome"] == "killed":
            counts["timeout" if result["output"] == "timeout" else "killed"] += 1
        else:
            counts[result["test_outcome"]] += 1
            survivors.append((item["mutations"][0], result["diff"]))
    ran = counts["killed"] + counts["timeout"] + counts["survived"] + counts["incompetent"]
    share = (counts["killed"] + counts["timeout"]) / ran if ran else float("nan")
    print(f"{db}: generated {len(rows)}, run {ran}, " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
          + f", killed share {share:.1%}")
    for m, diff in survivors:
        change = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        print(f"  line {m['start_pos'][0]} {m['definition_name']} {m['operator_name'].split('/')[1]}: "
              + " => ".join(line[1:].strip() for line in change))
PY
}

case "${1:-}" in
  test)
    export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$WORK/numba-shared}
    run_tests "$2"
    exit ;;
  report)
    shift
    report "${@/#/$WORK/}"
    exit ;;
  rerun)
    shift
    rm -rf "$TREE/ufo" && cp -r "$WORK/ufo.orig" "$TREE/ufo"  # a run stopped mid-mutant leaves it applied
    cp "$SRC"/tests/test_*_mutants.py "$TREE"/tests/
    cp "$SRC"/benchmarks/mutation.sh "$TREE"/benchmarks/
    cd "$TREE"
    export MUTATION_DIR=$WORK NUMBA_CACHE_DIR=$WORK/numba-shared
    for module in "$@"; do
      cp "$WORK/$module.sqlite" "$WORK/$module-rerun.sqlite"
      python - "$WORK/$module-rerun.sqlite" <<'PY'
import sqlite3, sys

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkResult, WorkerOutcome

with use_db(sys.argv[1], WorkDB.Mode.open) as db:  # a first run stopped early: only its survivors again
    for item in list(db.pending_work_items):
        db.set_result(item.job_id, WorkResult(output="not run in the first run", worker_outcome=WorkerOutcome.SKIPPED))
connection = sqlite3.connect(sys.argv[1])
connection.execute("DELETE FROM work_results WHERE lower(test_outcome) = 'survived'")
connection.commit()
PY
      cosmic-ray exec "$WORK/$module.toml" "$WORK/$module-rerun.sqlite"
      report "$WORK/$module-rerun.sqlite"
    done
    exit ;;
esac

[ $# -gt 0 ] && MODULES=("$@")
rm -rf "$TREE" && mkdir -p "$TREE" "$WORK"
(cd "$SRC" && tar --exclude=.git --exclude=__pycache__ --exclude=mutants --exclude=.pytest_cache -cf - .) | tar -xf - -C "$TREE"
rm -rf "$WORK/ufo.orig" && cp -r "$TREE/ufo" "$WORK/ufo.orig"
# MUTATION_BASELINE=1: without the tests the first run showed missing (to reproduce filters, backproject,
# flat, phase and fbp's first run; halftomo, dfi, median, convert, spots, rings and outliers ran their
# first run with their own test files, written from the code before it)
[ -z "${MUTATION_BASELINE:-}" ] || rm -f "$TREE/tests/test_tomo_mutants.py" "$TREE/tests/test_fbp_mutants.py"
cd "$TREE"
export MUTATION_DIR=$WORK NUMBA_CACHE_DIR=$WORK/numba-shared
python -m pytest -q -p no:cacheprovider tests/test_tomo.py -k stacked_and_single >/dev/null  # warm the shared cache
write_operators

for module in "${MODULES[@]}"; do
  cfg=$WORK/$module.toml db=$WORK/$module.sqlite
  sed "s|module-path = \"PLACEHOLDER\"|module-path = \"$(path_of "$module")\"|; s|test-command = \"PLACEHOLDER\"|test-command = \"bash benchmarks/mutation.sh test $module\"|" \
    "$WORK/operators.toml" >"$cfg"
  rm -f "$db"
  cosmic-ray init "$cfg" "$db"
  cr-filter-operators "$db" "$cfg"
  skip_second_offsets "$db"
  start=$(date +%s)
  cosmic-ray exec "$cfg" "$db"
  echo "$module: $(($(date +%s) - start)) s"
  report "$db"
done
git -C "$SRC" diff --quiet -- ufo/ 2>/dev/null || echo "note: the checkout's ufo/ differs from HEAD (others' edits; the run used a copy)"
