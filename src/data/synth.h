/* synth.h — deterministic synthetic galaxies shaped like SDSS's Main Galaxy Sample (Pasquet et al. 2019):
 * 5-band (ugriz) 32x32 cutouts in nanomaggies, magnitudes consistent with the image fluxes, true redshifts.
 * Owns: the galaxy model and writing a synthetic data set (partitions + manifest). Must not touch: the
 * partition formats themselves (shard.c, seedpt.c write them), the model, stores.
 *
 * Determinism: galaxy `id` of a set with seed `seed` depends on (seed, id) only: its random numbers come from
 * a generator keyed on that pair, so it is bit-identical however the set is chunked into files or threads
 * (same binary and CPU; libm/FMA differences across builds can change the last bits). */
#ifndef CAI_SYNTH_H
#define CAI_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "partition.h"

#define CAI_SYNTH_NPIX (5 * 32 * 32)

/* What the generator chose for one galaxy (for tests and docs; the files carry only images, mags, z). */
typedef struct {
    double z;
    int early;          /* 1: bulge-dominated (early type), 0: disk-dominated */
    double bt;          /* bulge-to-total flux ratio in r */
    double re_disk_px;  /* disk half-light radius, pixels (0.396"/px) */
    double re_bulge_px; /* bulge half-light radius, pixels */
    double q, pa;       /* disk axis ratio, position angle (radians) */
    double abs_mag_r;   /* absolute r magnitude */
    double mag_true[5]; /* noise-free ugriz magnitudes of the rendered galaxy */
    double psf_fwhm_px[5];
} cai_synth_truth;

/* One galaxy: image (5,32,32) nanomaggies/pixel, mag[5] observed (noisy) ugriz magnitudes, *z true redshift.
 * truth may be NULL. */
void cai_synth_galaxy(uint64_t seed, int64_t id, float *image, double *mag, float *z, cai_synth_truth *truth);

/* Galaxies id0 .. id0+count-1 into arrays of count rows, in parallel (threads <= 0: all cores). */
void cai_synth_galaxies(uint64_t seed, int64_t id0, int64_t count, float *images, double *mags, float *z, int threads);

typedef struct {
    int64_t galaxies; /* how many */
    uint64_t seed;
    int64_t id_offset;      /* first galaxy id (default 0) */
    int64_t per_file;       /* galaxies per output partition (default 1278, the seed's 25 MB) */
    cai_part_format format; /* CAI_PART_SHARD (default) or CAI_PART_SEEDPT */
    const char *outdir;
    int threads; /* <= 0: all cores */
    int force;   /* replace existing partitions/manifest in outdir (else refuse) */
    void (*progress)(void *ctx, int64_t done, int64_t total);
    void *ctx;
} cai_synth_opts;

typedef struct {
    int64_t files, galaxies;
    uint64_t bytes;
    double seconds;
} cai_synth_report;

/* Write outdir/1.<ext> .. outdir/F.<ext> (ext "safetensors" or "pt") and outdir/manifest.jsonl(+.json),
 * holding at most one output file's galaxies in memory. */
int cai_synth_write(const cai_synth_opts *o, cai_synth_report *r, cai_err *err);

/* Refuse to write partitions into a directory that already has some (or a manifest): stale N.pt files past
 * the new count would silently join the data set. With force, delete them instead. Shared with split. */
int cai_data_prepare_outdir(const char *dir, int force, cai_err *err);

#endif
