/* cmd_convert.c — `cai convert`: PyTorch checkpoint → safetensors weights, or deterministic untrained
 * weights for demos (--init). The work is in libcai (model/convert.c, model.h's cai_weights_random). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common/err.h"
#include "model/convert.h"
#include "model/model.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: cai convert CHECKPOINT.pt OUT.safetensors\n"
            "       cai convert --init vit|vitae [--seed S] OUT.safetensors\n"
            "       cai convert --no-check CHECKPOINT.pt OUT.safetensors   (any module tree; skip the AstroMAE check)\n"
            "\n"
            "CHECKPOINT is a torch.save archive: the seed's whole model (torch.save(nn.DataParallel(ViT_Astro)))\n"
            "or a state_dict (with or without the 'module.' prefix). It is read by CAI's restricted reader:\n"
            "nothing in it is imported or executed; unknown pickle globals are refused.\n"
            "--init writes deterministic untrained weights (predictions are not physical).\n");
}

/* Thousands separators for the report: 15902889 -> "15,902,889". */
static void commas(long long v, char *buf, size_t n) {
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", v < 0 ? -v : v);
    size_t len = strlen(raw), j = 0;
    if (v < 0 && j + 1 < n) buf[j++] = '-';
    for (size_t i = 0; i < len && j + 2 < n; i++) {
        buf[j++] = raw[i];
        if ((len - i - 1) % 3 == 0 && i + 1 < len) buf[j++] = ',';
    }
    buf[j] = 0;
}

/* Load what was written with the model loader: the real check that the file is usable. */
static int validate(const char *out, const char *what, int ntensors, cai_err *err) {
    cai_model *m = NULL;
    int rc = cai_model_load(out, CAI_PREC_FP32, &m, err);
    if (rc) {
        cai_err_prefix(err, "%s written, but the model loader rejects it: ", out);
        return rc;
    }
    char np[32];
    commas(cai_model_nparams(m), np, sizeof np);
    if (ntensors > 0)
        printf("converted %s: variant %s, %s parameters, %d tensors -> %s\n", what, cai_model_variant(m), np, ntensors,
               out);
    else
        printf("wrote untrained %s weights: %s parameters -> %s (predictions are not physical)\n", cai_model_variant(m),
               np, out);
    cai_model_free(m);
    return CAI_OK;
}

int cmd_convert(int argc, char **argv) {
    const char *init = NULL, *seed_s = "0";
    int check = 1;
    const char *pos[2];
    int npos = 0;
    static const struct option opts[] = {{"init", required_argument, 0, 'i'},
                                         {"seed", required_argument, 0, 's'},
                                         {"no-check", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': init = optarg; break;
        case 's': seed_s = optarg; break;
        case 'n': check = 0; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind > 2) {
        fprintf(stderr, "cai convert: too many arguments\n");
        usage(stderr);
        return 2;
    }
    while (optind < argc) pos[npos++] = argv[optind++];
    cai_err err = {0};
    if (init) {
        if (npos != 1 || (strcmp(init, "vit") && strcmp(init, "vitae"))) {
            fprintf(stderr, "cai convert: --init needs vit or vitae and one output path\n");
            usage(stderr);
            return 2;
        }
        char *end;
        unsigned long long seed = strtoull(seed_s, &end, 10);
        if (!*seed_s || *end) {
            fprintf(stderr, "cai convert: --seed: expected a non-negative integer, got \"%s\"\n", seed_s);
            return 2;
        }
        int rc = cai_weights_random(pos[0], init, (uint64_t)seed, &err);
        if (!rc) rc = validate(pos[0], init, 0, &err);
        if (rc) {
            fprintf(stderr, "cai convert: %s\n", err.msg);
            return cai_exit_status(err.code);
        }
        return 0;
    }
    if (npos != 2) {
        usage(stderr);
        return 2;
    }
    cai_convert_info info;
    int rc = cai_convert_checkpoint(pos[0], pos[1], &info, &err);
    if (!rc && check) {
        rc = validate(pos[1], pos[0], info.ntensors, &err);
        if (rc) unlink(pos[1]); /* a file the engine cannot load is not left behind */
    } else if (!rc) {
        printf("converted %s: %d tensors, %lld values, keys look like variant %s (not checked) -> %s\n", pos[0],
               info.ntensors, (long long)info.nvalues, info.variant, pos[1]);
    }
    if (rc) {
        fprintf(stderr, "cai convert: %s\n", err.msg);
        return cai_exit_status(err.code);
    }
    if (!info.whole_model)
        printf(
            "note: %s is a state_dict: hyper-parameters it cannot hold (eps, num_heads, scale) take the seed's "
            "defaults\n",
            pos[0]);
    return 0;
}
