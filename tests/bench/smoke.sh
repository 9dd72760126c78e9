#!/bin/bash
# SPDX-License-Identifier: MIT
#
# smoke.sh - the benchmark's baselines' own unit test, vsvm-bench in quick
# mode, then a check that its report is produced and well formed: report.json parses and every metric carries
# the fields docs/performance.md describes, report.md has a table per
# family, and every plot the JSON names is a PNG.  The figures themselves
# are not judged: targets live in the report, never in tests.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
out=${BENCH_SMOKE_OUT:-$BUILD/bench-smoke}
mkdir -p "$(dirname "$out")"

if ! make --no-print-directory -s bench-bin bench-test-bin \
	>"$out.build.log" 2>&1; then
	echo "bench-smoke: FAIL: building vsvm-bench:"
	tail -n 20 "$out.build.log"
	exit 1
fi
# The baselines first: a figure is only as good as its denominator.
if ! "$BUILD/bench-tests/native_baselines" >"$out.baselines.log" 2>&1; then
	echo "bench-smoke: FAIL: the host-native/partitioned baselines:"
	tail -n 30 "$out.baselines.log"
	exit 1
fi
rm -rf "$out"
if ! "$BUILD/vsvm-bench" --quick --out "$out" 2>"$out.log"; then
	echo "bench-smoke: FAIL: vsvm-bench exited with $?:"
	tail -n 20 "$out.log"
	exit 1
fi

python3 - "$out" <<'PY'
import json, os, sys

out = sys.argv[1]
errors = []
try:
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
except (OSError, ValueError) as e:
    print(f"bench-smoke: FAIL: report.json: {e}")
    sys.exit(1)

for key in ("schema", "mode", "repetitions", "machine", "targets",
            "metrics", "plots"):
    if key not in rep:
        errors.append(f"report.json lacks '{key}'")
if rep.get("mode") != "quick":
    errors.append("mode is not 'quick'")
families = set()
for m in rep.get("metrics", []):
    mid = m.get("id", "?")
    for key in ("id", "family", "title", "measured", "unit", "value",
                "ratio", "target", "note"):
        if key not in m:
            errors.append(f"metric {mid} lacks '{key}'")
    families.add(m.get("family", "")[:1])
    if m.get("measured"):
        v = m.get("value")
        if not v or any(k not in v for k in ("min", "median", "max")):
            errors.append(f"metric {mid}: measured but no min/median/max")
        elif v.get("median") is None:
            # NaN/inf is written as null: the path under test failed.
            errors.append(f"metric {mid}: measured but its median is "
                          "not a number")
        r = m.get("ratio")
        if r is not None and ("baseline" not in r or "spread" not in r):
            errors.append(f"metric {mid}: ratio without baseline/spread")
    elif not m.get("note", "").startswith("not measured:"):
        errors.append(f"metric {mid}: unmeasured without a reason")
    t = m.get("target")
    if t is not None and t.get("status") not in (
            "met", "missed", "not measured", "n/a"):
        errors.append(f"metric {mid}: target status {t.get('status')!r}")
for fam in "0123456":
    if fam not in families:
        errors.append(f"no metric of family {fam}")
t = rep.get("targets", {})
if not all(isinstance(t.get(k), int) for k in ("met", "missed",
                                               "not_measured")):
    errors.append("targets summary malformed")
for p in rep.get("plots", []):
    try:
        with open(os.path.join(out, p), "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                errors.append(f"{p} is not a PNG")
    except OSError as e:
        errors.append(f"{p}: {e}")
if len(rep.get("plots", [])) < 4:
    errors.append("fewer than 4 plots")
try:
    md = open(os.path.join(out, "report.md")).read()
    if md.count("\n## ") < 7 or "| metric |" not in md:
        errors.append("report.md lacks its tables")
except OSError as e:
    errors.append(f"report.md: {e}")

if errors:
    for e in errors:
        print(f"bench-smoke: FAIL: {e}")
    sys.exit(1)
print(f"bench-smoke: PASS: {len(rep['metrics'])} metrics, "
      f"{len(rep['plots'])} plots, report in {out}")
PY
