#!/usr/bin/python3
"""Compare two prediction CSVs (`index,prediction`): the golden tolerance of issue 2.

  compare_predictions.py REF.csv OUT.csv [--label TEXT] [--min-spread S] [--expect-fail]

Passes when both files have the header, the same indices 0..N-1 in order, and
    max |out - ref| <= 1e-5 * (1 + max |ref|)            (fp32)
Prints the max |Δ|, the bound, and where the max is. Any NaN/inf, missing or extra line fails.
--min-spread S: also require the reference's standard deviation over galaxies >= S (the test is only
                meaningful when predictions differ from galaxy to galaxy).
--max-abs A --median-abs M: a quantized engine's bound instead (int8): max |out - ref| <= A and the
                median |out - ref| <= M.
--expect-fail:  invert the verdict (exit 0 when the comparison FAILS); for the sensitivity test.
No numpy/torch needed.
"""
import argparse
import math
import sys

REL = 1e-5


def read_csv(path):
    with open(path) as f:
        lines = f.read().splitlines()
    if not lines or lines[0].strip().replace(" ", "") != "index,prediction":
        raise ValueError("%s: expected the header \"index,prediction\", got %r" % (path, lines[0] if lines else ""))
    vals = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != 2:
            raise ValueError("%s:%d: expected 2 fields, got %r" % (path, n, line))
        idx, val = int(parts[0]), float(parts[1])
        if idx != len(vals):
            raise ValueError("%s:%d: expected index %d, got %d" % (path, n, len(vals), idx))
        vals.append(val)
    return vals


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("ref")
    ap.add_argument("out")
    ap.add_argument("--label", default="")
    ap.add_argument("--min-spread", type=float, default=0.0)
    ap.add_argument("--expect-fail", action="store_true")
    ap.add_argument("--max-abs", type=float, default=None)
    ap.add_argument("--median-abs", type=float, default=None)
    a = ap.parse_args(argv)
    tag = (a.label + ": ") if a.label else ""
    try:
        ref = read_csv(a.ref)
        out = read_csv(a.out)
    except (OSError, ValueError) as e:
        print(tag + "FAIL: %s" % e)
        return 0 if a.expect_fail else 1
    ok = True
    why = []
    if len(ref) != len(out):
        ok = False
        why.append("%d reference lines, %d output lines" % (len(ref), len(out)))
    n = min(len(ref), len(out))
    if n == 0:
        ok = False
        why.append("no predictions")
    bad = [i for i in range(n) if not (math.isfinite(ref[i]) and math.isfinite(out[i]))]
    if bad:
        ok = False
        why.append("%d non-finite values (first at index %d)" % (len(bad), bad[0]))
    maxref = max((abs(v) for v in ref[:n] if math.isfinite(v)), default=0.0)
    bound = REL * (1.0 + maxref) if a.max_abs is None else a.max_abs
    dmax, imax = 0.0, -1
    for i in range(n):
        if i in bad:
            continue
        d = abs(out[i] - ref[i])
        if d > dmax:
            dmax, imax = d, i
    if dmax > bound:
        ok = False
        why.append("max|delta| %.3g > bound %.3g at index %d (ref %.9g, out %.9g)" %
                   (dmax, bound, imax, ref[imax], out[imax]))
    ds = sorted(abs(out[i] - ref[i]) for i in range(n) if i not in bad)
    med = (ds[(len(ds) - 1) // 2] + ds[len(ds) // 2]) / 2 if ds else 0.0
    if a.median_abs is not None and med > a.median_abs:
        ok = False
        why.append("median|delta| %.3g > %.3g" % (med, a.median_abs))
    spread = 0.0
    if n > 1:
        mean = sum(ref[:n]) / n
        spread = math.sqrt(sum((v - mean) ** 2 for v in ref[:n]) / (n - 1))
    if spread < a.min_spread:
        ok = False
        why.append("reference spread %.3g < %.3g: predictions are ~constant" % (spread, a.min_spread))
    verdict = "ok" if ok else "FAIL"
    print("%s%s: n=%d max|delta|=%.3g bound=%.3g (ratio %.3g) median|delta|=%.3g ref spread=%.3g%s" %
          (tag, verdict, n, dmax, bound, dmax / bound if bound else float("inf"), med, spread,
           ("; " + "; ".join(why)) if why else ""))
    if a.expect_fail:
        return 0 if not ok else 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
