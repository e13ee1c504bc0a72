/* cmd_synth.c — `cai synth --galaxies N --seed S -o DIR`: a deterministic synthetic data set. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "common/util.h"
#include "data/synth.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai synth --galaxies N --seed S -o DIR [options]\n"
            "\n"
            "Deterministic synthetic ugriz 32x32 galaxies with magnitudes and true redshifts, shaped like\n"
            "SDSS's Main Galaxy Sample (docs/data.md). Galaxy i depends only on (seed, i).\n"
            "\n"
            "  --galaxies N            how many galaxies (required)\n"
            "  --seed S                random seed (default 1)\n"
            "  -o, --out DIR           output directory: DIR/1.safetensors ... and DIR/manifest.jsonl\n"
            "  --format shard|pt       CAI shards (default) or the seed's torch .pt layout\n"
            "  --galaxies-per-file K   galaxies per partition file (default 1278, the seed's 25 MB)\n"
            "  --id-offset N           id of the first galaxy (default 0)\n"
            "  --threads T             threads (default: all cores)\n"
            "  --force                 replace an existing data set in DIR\n"
            "  -q, --quiet             no progress\n");
}

static void progress(void *ctx, int64_t done, int64_t total) {
    (void)ctx;
    fprintf(stderr, "\rsynth: %" PRId64 " / %" PRId64 " galaxies", done, total);
    if (done == total) fputc('\n', stderr);
}

int cmd_synth(int argc, char **argv) {
    static const struct option opts[] = {{"galaxies", required_argument, 0, 'n'},
                                         {"seed", required_argument, 0, 's'},
                                         {"out", required_argument, 0, 'o'},
                                         {"format", required_argument, 0, 'f'},
                                         {"galaxies-per-file", required_argument, 0, 'k'},
                                         {"id-offset", required_argument, 0, 'i'},
                                         {"threads", required_argument, 0, 't'},
                                         {"force", no_argument, 0, 'F'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    cai_synth_opts o = {.seed = 1, .per_file = 1278, .format = CAI_PART_SHARD};
    int64_t v;
    int quiet = 0, have_n = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cai_arg_int("synth", "--galaxies", optarg, 1, INT64_MAX, &o.galaxies)) return 2;
            have_n = 1;
            break;
        case 's': {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "cai synth: --seed: expected a non-negative integer, got \"%s\"\n", optarg);
                return 2;
            }
            o.seed = s;
            break;
        }
        case 'o': o.outdir = optarg; break;
        case 'f':
            if (cai_arg_format("synth", optarg, &o.format)) return 2;
            break;
        case 'k':
            if (cai_arg_int("synth", "--galaxies-per-file", optarg, 1, INT64_MAX, &o.per_file)) return 2;
            break;
        case 'i':
            if (cai_arg_int("synth", "--id-offset", optarg, 0, INT64_MAX, &o.id_offset)) return 2;
            break;
        case 't':
            if (cai_arg_int("synth", "--threads", optarg, 1, INT64_MAX, &v)) return 2;
            o.threads = (int)v;
            break;
        case 'F': o.force = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cai synth: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (!have_n || !o.outdir) {
        fprintf(stderr, "cai synth: %s is required\n\n", !have_n ? "--galaxies" : "-o DIR");
        usage(stderr);
        return 2;
    }
    if (!quiet && isatty(2)) o.progress = progress;
    cai_synth_report r;
    cai_err err = {0};
    int rc = cai_synth_write(&o, &r, &err);
    if (rc) {
        fprintf(stderr, "cai synth: %s\n", err.msg);
        return cai_exit_status(rc);
    }
    printf("synth: %" PRId64 " galaxies (seed %" PRIu64 ", ids %" PRId64 "..%" PRId64 ") in %" PRId64
           " %s files, %.1f MB, in %s/ (manifest.jsonl); %.2f s, %.0f galaxies/s\n",
           r.galaxies, o.seed, o.id_offset, o.id_offset + r.galaxies - 1, r.files,
           o.format == CAI_PART_SHARD ? "shard" : "pt", r.bytes / 1048576.0, o.outdir, r.seconds,
           r.seconds > 0 ? r.galaxies / r.seconds : 0.0);
    return 0;
}
