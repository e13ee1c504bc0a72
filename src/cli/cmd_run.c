/* cmd_run.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai run: not built yet\n");
    return 1;
}
