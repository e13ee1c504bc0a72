/* cmd_worker.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_worker(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai worker: not built yet\n");
    return 1;
}
