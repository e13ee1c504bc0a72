/* cmd_slurm.c — `cai slurm submit|status`: the SLURM engine's commands (the work is in engine/slurm.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "engine/slurm.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: cai slurm submit PAYLOAD.json [--store DIR|s3://...] [--weights W] [options]\n"
        "       cai slurm submit --resume BUCKET/RESULT_PATH [--store S] [options]\n"
        "       cai slurm status BUCKET/RESULT_PATH [--store S]\n\n"
        "submit: run Initialize here, write <run>/slurm/map.sbatch (a job array, one task per rank) and\n"
        "summarize.sbatch, `sbatch --parsable` the array, then Summarize with --dependency=afterany:<array>\n"
        "--kill-on-invalid-dep=yes. Task output: <run>/slurm/%%A_%%a.out. Prints both job ids.\n"
        "  --partition P --account A --time T --mem M   passed to both jobs as #SBATCH lines\n"
        "  --cpus-per-task C     threads per task (default 1; the task reads SLURM_CPUS_PER_TASK)\n"
        "  --ranks-per-task K    each array task runs K consecutive ranks, the model loaded once (default 1)\n"
        "  --array-max N         at most N tasks at once (the --array=...%%N throttle)\n"
        "  --sbatch-arg X        one more #SBATCH line for both jobs, e.g. --sbatch-arg=--qos=short (repeatable)\n"
        "  --prologue LINE       a shell line both jobs run before cai, e.g. 'module load gcc openmpi' (repeatable)\n"
        "  --slurm-dir DIR       scripts and task output (default <store>/<bucket>/<result_path>/slurm;\n"
        "                        required with an S3 store: a path every node sees)\n"
        "  --dry-run             print the scripts and the sbatch commands; submit nothing, write nothing\n"
        "  --resume RUN          resubmit only the ranks that are not complete (a new array over exactly\n"
        "                        those indices) and a new Summarize\n"
        "  --force               take over the result_path's lock (<run>/run.lock) when the run holding it is\n"
        "                        gone (its Summarize job, which releases it, was cancelled or never ran)\n"
        "The run holds <run>/run.lock from submit until its Summarize job ends: a second submit on the same\n"
        "result_path (or a cai run / cai mpi) refuses and names the holder.\n"
        "status: each rank complete / failed (the record's reason) / missing, joined with `scontrol show job`\n"
        "for the tasks the scheduler still knows; the totals; the wall time from the records. Exit 0 when\n"
        "every rank is complete, 1 otherwise.\n");
}

static int submit(int argc, char **argv) {
    static const struct option opts[] = {{"store", required_argument, 0, 's'},
                                         {"weights", required_argument, 0, 'w'},
                                         {"partition", required_argument, 0, 'P'},
                                         {"account", required_argument, 0, 'A'},
                                         {"time", required_argument, 0, 'T'},
                                         {"mem", required_argument, 0, 'M'},
                                         {"cpus-per-task", required_argument, 0, 'c'},
                                         {"ranks-per-task", required_argument, 0, 'k'},
                                         {"array-max", required_argument, 0, 'a'},
                                         {"sbatch-arg", required_argument, 0, 'x'},
                                         {"slurm-dir", required_argument, 0, 'D'},
                                         {"dry-run", no_argument, 0, 'n'},
                                         {"resume", required_argument, 0, 'R'},
                                         {"prologue", required_argument, 0, 'L'},
                                         {"force", no_argument, 0, 'F'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    cai_slurm_opts o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': o.store_url = optarg; break;
        case 'w': o.weights = optarg; break;
        case 'P': o.partition = optarg; break;
        case 'A': o.account = optarg; break;
        case 'T': o.time_limit = optarg; break;
        case 'M': o.mem = optarg; break;
        case 'c':
            if (cai_arg_int32("slurm submit", "--cpus-per-task", optarg, 1, 4096, &o.cpus_per_task)) return 2;
            break;
        case 'k':
            if (cai_arg_int32("slurm submit", "--ranks-per-task", optarg, 1, 1000000, &o.ranks_per_task)) return 2;
            break;
        case 'a':
            if (cai_arg_int32("slurm submit", "--array-max", optarg, 1, 1000000, &o.array_max)) return 2;
            break;
        case 'x':
            if (o.nsbatch_args >= CAI_SLURM_MAX_ARGS) {
                fprintf(stderr, "cai slurm submit: --sbatch-arg: at most %d\n", CAI_SLURM_MAX_ARGS);
                return 2;
            }
            o.sbatch_args[o.nsbatch_args++] = optarg;
            break;
        case 'L':
            if (o.nprologue >= CAI_SLURM_MAX_ARGS) {
                fprintf(stderr, "cai slurm submit: --prologue: at most %d\n", CAI_SLURM_MAX_ARGS);
                return 2;
            }
            o.prologue[o.nprologue++] = optarg;
            break;
        case 'D': o.slurm_dir = optarg; break;
        case 'n': o.dry_run = 1; break;
        case 'R': o.resume_run = optarg; break;
        case 'F': o.force = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.resume_run ? optind != argc : optind + 1 != argc) {
        fprintf(stderr, "cai slurm submit: expected PAYLOAD.json, or --resume BUCKET/RESULT_PATH (not both)\n");
        return 2;
    }
    if (!o.resume_run) o.payload_path = argv[optind];
    cai_err err = {0};
    cai_slurm_result res;
    int rc = cai_slurm_submit(&o, stdout, &res, &err);
    if (rc) fprintf(stderr, "cai slurm submit: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
    return rc ? cai_exit_status(err.code) : 0;
}

static int status(int argc, char **argv) {
    static const struct option opts[] = {
        {"store", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *store = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': store = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "cai slurm status: expected BUCKET/RESULT_PATH (the run's folder in the store)\n");
        return 2;
    }
    cai_err err = {0};
    int complete = 0;
    int rc = cai_slurm_status(store, argv[optind], stdout, &complete, &err);
    if (rc) {
        fprintf(stderr, "cai slurm status: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
        return cai_exit_status(err.code);
    }
    return complete ? 0 : 1;
}

int cmd_slurm(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "submit")) return submit(argc - 1, argv + 1);
    if (!strcmp(argv[1], "status")) return status(argc - 1, argv + 1);
    fprintf(stderr, "cai slurm: unknown subcommand '%s' (expected submit or status)\n", argv[1]);
    return 2;
}
