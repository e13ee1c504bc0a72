/* cmd_split.c — `cai split INPUT --partition-mb M -o DIR`: stream a data set into the seed's partitions. */
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
#include "data/split.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai split INPUT (--partition-mb M | --galaxies-per-partition N) -o DIR [options]\n"
            "\n"
            "INPUT is a partition file or a directory of them (.pt or .safetensors, read in numeric order).\n"
            "Writes DIR/1.safetensors ... (or 1.pt ...) and DIR/manifest.jsonl, streaming: memory is one\n"
            "output partition, whatever the input's size.\n"
            "\n"
            "  --partition-mb M            25, 50, 75, 100 use the seed's 1278/2556/3834/5113 galaxies per\n"
            "                              file; other sizes ceil(M * 2^20 / 20524)\n"
            "  --galaxies-per-partition N  exact count instead\n"
            "  -o, --out DIR               output directory\n"
            "  --format shard|pt           CAI shards (default) or the seed's torch .pt layout\n"
            "  --id-offset N               first id for inputs without ids (seed .pt files; default 0)\n"
            "  --force                     replace an existing data set in DIR\n"
            "  --ids TABLE                 attach objid and/or ra, dec (degrees) from a FITS or CSV table\n"
            "                              (row i = the i-th galaxy of the input, in split order)\n"
            "  --ids-column NAME           match TABLE's column NAME to the galaxy id instead of row order\n"
            "                              (for .pt input the id is --id-offset + position in the input)\n"
            "  -q, --quiet                 no progress\n");
}

static void progress(void *ctx, int64_t galaxies, int64_t parts) {
    (void)ctx;
    fprintf(stderr, "\rsplit: %" PRId64 " galaxies, %" PRId64 " partitions written", galaxies, parts);
}

int cmd_split(int argc, char **argv) {
    static const struct option opts[] = {{"partition-mb", required_argument, 0, 'm'},
                                         {"galaxies-per-partition", required_argument, 0, 'g'},
                                         {"out", required_argument, 0, 'o'},
                                         {"format", required_argument, 0, 'f'},
                                         {"id-offset", required_argument, 0, 'i'},
                                         {"force", no_argument, 0, 'F'},
                                         {"ids", required_argument, 0, 'I'},
                                         {"ids-column", required_argument, 0, 'K'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    cai_split_opts o = {.format = CAI_PART_SHARD};
    int quiet = 0, c;
    double mb = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': {
            char *end;
            errno = 0;
            mb = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(mb > 0) || !cai_split_galaxies_for_mb(mb)) {
                fprintf(stderr, "cai split: --partition-mb: expected a positive number of MB, got \"%s\"\n", optarg);
                return 2;
            }
            break;
        }
        case 'g':
            if (cai_arg_int("split", "--galaxies-per-partition", optarg, 1, INT64_MAX, &o.per_partition)) return 2;
            break;
        case 'o': o.outdir = optarg; break;
        case 'f':
            if (cai_arg_format("split", optarg, &o.format)) return 2;
            break;
        case 'i':
            if (cai_arg_int("split", "--id-offset", optarg, 0, INT64_MAX, &o.id_offset)) return 2;
            break;
        case 'F': o.force = 1; break;
        case 'I': o.ids_table = optarg; break;
        case 'K': o.ids_column = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "cai split: %s\n\n", optind >= argc ? "INPUT is required" : "exactly one INPUT, please");
        usage(stderr);
        return 2;
    }
    o.input = argv[optind];
    if ((mb > 0) == (o.per_partition > 0)) {
        fprintf(stderr, "cai split: give exactly one of --partition-mb and --galaxies-per-partition\n");
        return 2;
    }
    if (!o.outdir) {
        fprintf(stderr, "cai split: -o DIR is required\n");
        return 2;
    }
    if (mb > 0) o.per_partition = cai_split_galaxies_for_mb(mb);
    int tty = !quiet && isatty(2);
    if (tty) o.progress = progress;
    cai_split_report r;
    cai_err err = {0};
    int rc = cai_split_run(&o, &r, &err);
    if (tty) fputc('\n', stderr);
    if (rc) {
        fprintf(stderr, "cai split: %s\n", err.msg);
        return cai_exit_status(rc);
    }
    printf("split: %" PRId64 " galaxies from %d input file%s -> %" PRId64 " %s partitions of %" PRId64
           " (last %" PRId64 "), %.1f MB, in %s/ (manifest.jsonl); %.2f s, peak RSS %.0f MB\n",
           r.galaxies, r.inputs, r.inputs == 1 ? "" : "s", r.partitions, o.format == CAI_PART_SEEDPT ? "pt" : "shard",
           o.per_partition, r.last_partition, r.bytes / 1048576.0, o.outdir, r.seconds, r.peak_rss_mb);
    return 0;
}
