/* cmd_stats.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_stats(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai stats: not built yet\n");
    return 1;
}
