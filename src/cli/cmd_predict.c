/* cmd_predict.c — `cai predict --weights W.safetensors INPUT -o OUT.csv`: redshifts for one partition
 * (seed .pt or CAI shard), one CSV line per galaxy. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "common/util.h"
#include "data/partition.h"
#include "model/cpu.h"
#include "model/model.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai predict --weights W.safetensors INPUT -o OUT.csv [options]\n"
            "\n"
            "Run the AstroMAE model on one partition file (the seed's .pt TensorDataset or a CAI shard) and\n"
            "write `index,prediction` (a header, then one line per galaxy, in input order).\n"
            "\n"
            "  --weights W         model weights (safetensors, from `cai convert`)\n"
            "  -o, --out OUT.csv   output CSV ('-' for stdout)\n"
            "  --batch-size N      galaxies per forward pass (default 512)\n"
            "  --threads T         threads (default: all cores)\n"
            "  --precision P       auto (default: int8 where the CPU has VNNI, else fp32), fp32 or int8\n"
            "                      (int8: the transformer blocks' Linear layers)\n"
            "  -q, --quiet         no summary line on stderr\n");
}

int cmd_predict(int argc, char **argv) {
    static const struct option opts[] = {{"weights", required_argument, 0, 'w'},
                                         {"out", required_argument, 0, 'o'},
                                         {"batch-size", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'},
                                         {"precision", required_argument, 0, 'p'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *weights = NULL, *out = NULL;
    int batch = 512, threads = 0, quiet = 0, c;
    cai_precision prec = CAI_PREC_AUTO;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'w': weights = optarg; break;
        case 'o': out = optarg; break;
        case 'b':
            if (cai_arg_int32("predict", "--batch-size", optarg, 1, 65536, &batch)) return 2;
            break;
        case 't':
            if (cai_arg_int32("predict", "--threads", optarg, 1, 1024, &threads)) return 2;
            break;
        case 'p':
            if (cai_precision_parse(optarg, &prec)) {
                fprintf(stderr, "cai predict: --precision: expected " CAI_PRECISION_EXPECTED ", got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!weights || !out || optind != argc - 1) {
        fprintf(stderr, "cai predict: %s\n",
                !weights ? "--weights is required"
                : !out   ? "-o OUT.csv is required"
                         : "expected exactly one INPUT");
        usage(stderr);
        return 2;
    }
    const char *input = argv[optind];
    cai_err err = {0};
    double t0 = cai_mono_now();
    cai_model *m = NULL;
    cai_session *s = NULL;
    cai_partition part;
    int have_part = 0, rc;
    float *pred = NULL;
    FILE *f = NULL;
    if ((rc = cai_model_load(weights, prec, &m, &err))) goto fail;
    if ((rc = cai_partition_open(input, &part, &err))) goto fail;
    have_part = 1;
    if (part.n < 1) {
        rc = cai_seterr(&err, CAI_EFORMAT, "%s: the partition holds no galaxies", input);
        goto fail;
    }
    int eff = part.n < batch ? (int)part.n : batch;
    if (!(s = cai_session_new(m, eff, threads, &err))) {
        rc = err.code;
        goto fail;
    }
    if (!(pred = malloc((size_t)part.n * sizeof(float)))) {
        rc = cai_seterr(&err, CAI_ENOMEM, "out of memory for %lld predictions", (long long)part.n);
        goto fail;
    }
    double t1 = cai_mono_now();
    if ((rc = cai_predict(s, part.images, part.mags, part.mag_dtype, part.n, pred, &err))) goto fail;
    double t2 = cai_mono_now();
    f = strcmp(out, "-") ? fopen(out, "w") : stdout;
    if (!f) {
        rc = cai_seterr(&err, CAI_EIO, "%s: cannot create: %s", out, strerror(errno));
        goto fail;
    }
    fprintf(f, "index,prediction\n");
    for (int64_t i = 0; i < part.n; i++) fprintf(f, "%lld,%.9g\n", (long long)i, pred[i]);
    if (fflush(f) || ferror(f) || (f != stdout && fclose(f))) {
        f = NULL;
        rc = cai_seterr(&err, CAI_EIO, "%s: write failed: %s", out, strerror(errno));
        goto fail;
    }
    if (!quiet) {
        char cpu[512];
        cai_cpu_describe(cpu, sizeof cpu);
        fprintf(stderr,
                "cai predict: %lld galaxies in %.3f s (%.1f galaxies/s inference; %s, %s%s, batch %d, load %.0f ms)\n"
                "cai predict: CPU: %s\n",
                (long long)part.n, t2 - t0, (double)part.n / (t2 - t1), cai_model_variant(m),
                cai_precision_label(cai_model_precision(m)), prec == CAI_PREC_AUTO ? " (auto)" : "", eff,
                (t1 - t0) * 1e3, cpu);
    }
    free(pred);
    cai_session_free(s);
    cai_partition_close(&part);
    cai_model_free(m);
    return 0;
fail:
    fprintf(stderr, "cai predict: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
    if (f && f != stdout) fclose(f);
    free(pred);
    cai_session_free(s);
    if (have_part) cai_partition_close(&part);
    cai_model_free(m);
    return cai_exit_status(rc ? (cai_code)rc : CAI_EINTERNAL);
}
