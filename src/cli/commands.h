/* commands.h — the cai subcommands. Each lives in src/cli/cmd_<name>.c and parses its own flags; the
 * library does the work. Must not hold logic a test or another engine would need: that goes in libcai. */
#ifndef CAI_COMMANDS_H
#define CAI_COMMANDS_H

int cmd_convert(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_initialize(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_summarize(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_cost(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_lambda(int argc, char **argv);
int cmd_aws(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_slurm(int argc, char **argv);
int cmd_mpi(int argc, char **argv);

#endif
