/* cmd_plot.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_plot(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai plot: not built yet\n");
    return 1;
}
