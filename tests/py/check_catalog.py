"""check_catalog.py RUN_DIR [--ids TABLE.csv] [--tta] — read every catalog file of a run with astropy and
h5py (Debian's python3-astropy, python3-h5py) and check they agree with each other and with predictions.csv:
columns, units, null rules, provenance, FLAGS documentation. Exit 0 ok, 1 with the first mismatch."""
import csv
import json
import math
import sys

import h5py
import numpy as np
from astropy.io import ascii as aascii
from astropy.io import fits

run = sys.argv[1]
ids_table = sys.argv[sys.argv.index("--ids") + 1] if "--ids" in sys.argv else None
want_tta = "--tta" in sys.argv


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


summary = json.load(open(f"{run}/summary.json"))
cols = summary["catalog"]["columns"].split(",")
rows = list(csv.DictReader(open(f"{run}/predictions.csv")))
n = len(rows)

# FITS
with fits.open(f"{run}/predictions.fits", checksum=True) as hd:
    t = hd["PREDICTIONS"]
    h = t.header
    if list(t.columns.names) != cols:
        fail(f"FITS columns {t.columns.names} != summary {cols}")
    if len(t.data) != n:
        fail(f"FITS has {len(t.data)} rows, predictions.csv {n}")
    units = {c.name: c.unit for c in t.columns}
    for c in ("RA", "DEC"):
        if c in units and units[c] != "deg":
            fail(f"{c} TUNIT {units[c]!r}, expected 'deg'")
    for c in ("MAG_U", "MAG_G", "MAG_R", "MAG_I", "MAG_Z"):
        if c in units and units[c] != "mag":
            fail(f"{c} TUNIT {units[c]!r}")
    for i, c in enumerate(cols, 1):
        if not h.get(f"TCOMM{i}"):
            fail(f"TCOMM{i} missing for {c}")
    if h.get(f"TNULL{cols.index('GALAXY_ID') + 1}") != -1:
        fail("GALAXY_ID has no TNULL -1")
    for k in ("CAIVER", "WSHA256", "DATE", "NGALAXY", "TTA"):
        if k not in h:
            fail(f"FITS header lacks {k}")
    if summary.get("calibration") and h.get("CSHA256") != summary["calibration"]["sha256"]:
        fail("CSHA256 != the calibration's sha256")
    if "FLAGS" in cols and not all(f"FLAGB{b}" in h for b in range(6)):
        fail("FLAGS bits not documented in the header (FLAGB0..5)")
    if "MSHA256" not in h:
        fail("MSHA256 (input manifest sha256) missing")
    if want_tta and ("Z_STD" not in cols or h["TTA"] != 8):
        fail("TTA run without Z_STD / TTA=8")
    data = t.data
    zp = np.array([float(r["prediction"]) for r in rows], dtype=np.float32)
    if not np.array_equal(data["Z_PRED"], zp):
        fail("FITS Z_PRED differs from predictions.csv")
    if "Z_ERR" in cols:
        zl = np.array([float(r["z_lo68"]) for r in rows], dtype=np.float32)
        if not np.array_equal(data["Z_LO68"], zl):
            fail("FITS Z_LO68 differs from predictions.csv")
        if not np.all(data["Z_LO95"] <= data["Z_HI95"]):
            fail("Z_LO95 > Z_HI95")
    fits_cols = {c: np.array(data[c]) for c in cols}

# HDF5
with h5py.File(f"{run}/predictions.h5", "r") as f:
    if sorted(f.keys()) != sorted(cols):
        fail(f"HDF5 datasets {sorted(f.keys())} != {sorted(cols)}")
    for c in cols:
        if not np.array_equal(f[c][:], fits_cols[c], equal_nan=f[c].dtype.kind == "f"):
            fail(f"HDF5 {c} differs from FITS")
        if "description" not in f[c].attrs or "unit" not in f[c].attrs:
            fail(f"HDF5 {c} lacks unit/description attributes")
    if "RA" in cols and f["RA"].attrs["unit"] != "deg":
        fail("HDF5 RA unit")
    for k in ("cai_version", "weights_sha256", "calibration_sha256", "input_manifest_sha256", "run_id", "date_utc"):
        if k not in f.attrs:
            fail(f"HDF5 lacks attribute {k}")
    if f.attrs["weights_sha256"] != h["WSHA256"]:
        fail("HDF5 weights_sha256 != FITS WSHA256")
    if summary.get("run_id") and f.attrs["run_id"] != summary["run_id"]:
        fail("HDF5 run_id")

# catalog.csv (optional)
cc = summary["catalog"].get("catalog_csv")
if cc:
    path = f"{run}/catalog.csv"
    head = [l for l in open(path) if l.startswith("#")]
    for k in ("cai_version", "weights_sha256", "calibration_sha256", "input_manifest_sha256", "run_id", "date_utc"):
        if not any(l.startswith(f"# {k}: ") for l in head):
            fail(f"catalog.csv provenance lacks {k}")
    t2 = aascii.read(path, format="csv", comment="#")
    if list(t2.colnames) != cols or len(t2) != n:
        fail(f"catalog.csv columns/rows {t2.colnames} {len(t2)}")
    if not np.allclose(np.array(t2["Z_PRED"], dtype=float), fits_cols["Z_PRED"], rtol=0, atol=1e-7):
        fail("catalog.csv Z_PRED differs")

# ids and positions carried from the --ids table (row i = galaxy id i here)
if ids_table:
    tab = {int(r["gid"]): r for r in csv.DictReader(open(ids_table))}
    for i in range(n):
        g = int(fits_cols["GALAXY_ID"][i])
        r = tab[g]
        if int(fits_cols["OBJID"][i]) != int(r["objid"]):
            fail(f"galaxy {g}: OBJID {fits_cols['OBJID'][i]} != {r['objid']}")
        if not math.isclose(fits_cols["RA"][i], float(r["ra"]), rel_tol=0, abs_tol=1e-12):
            fail(f"galaxy {g}: RA")
        if not math.isclose(fits_cols["DEC"][i], float(r["dec"]), rel_tol=0, abs_tol=1e-12):
            fail(f"galaxy {g}: DEC")
print(f"catalog ok: {n} rows, columns {','.join(cols)}")
