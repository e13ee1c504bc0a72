/* main.c — `cai <command> ...`: dispatch to src/cli/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common/version.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmds[] = {
    {"convert", cmd_convert, "CHECKPOINT OUT.safetensors   seed checkpoint (pickle or state_dict) -> safetensors"},
    {"predict", cmd_predict, "--weights W INPUT -o OUT.csv  redshifts for one partition (.pt or shard)"},
    {"synth", cmd_synth, "--galaxies N --seed S -o DIR   deterministic synthetic galaxies"},
    {"split", cmd_split, "INPUT --partition-mb M -o DIR  stream a data set into partitions + manifest"},
    {"run", cmd_run, "PAYLOAD.json [--store DIR]       initialize -> workers -> summarize (local engine)"},
    {"initialize", cmd_initialize, "PAYLOAD.json --store S      the Initialize stage alone"},
    {"worker", cmd_worker, "--job JOB.json --store S       one rank of the map stage"},
    {"summarize", cmd_summarize, "--store S BUCKET RESULT_PATH  the Summarize stage alone"},
    {"calibrate", cmd_calibrate, "RUN... -o calib.json      per-galaxy uncertainty calibration from labelled runs"},
    {"report", cmd_report, "RUN -o DIR                      validation report: PNGs + report.md"},
    {"stats", cmd_stats, "RESULTS_ROOT -o DIR             the seed's experiment tables"},
    {"cost", cmd_cost, "[RUN | params]                   all-in AWS cost estimate"},
    {"plan", cmd_plan, "--galaxies N --deadline S|--budget USD  choose partition, memory, concurrency"},
    {"plot", cmd_plot, "RESULTS_ROOT -o DIR              PNG plots with gnuplot"},
    {"bench", cmd_bench, "[--weights W]                   measure galaxies/s on this machine"},
    {"lambda", cmd_lambda, "                                Lambda custom-runtime loop (the bootstrap)"},
    {"aws", cmd_aws, "deploy|run|status|logs|fetch       operate the AWS engine"},
    {"slurm", cmd_slurm, "submit|status                   the HPC engine on SLURM job arrays"},
    {"mpi", cmd_mpi, "PAYLOAD.json (under mpirun/srun)   the HPC engine on MPI (runs cai-mpi)"},
};

static void usage(FILE *f) {
    fprintf(f, "cai %s — Cloud-based Astronomy Inference (AstroMAE photo-z)\n\nusage: cai <command> [options]\n\n",
            CAI_VERSION);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\n`cai <command> --help` for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("cai %s\n", CAI_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cai: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
