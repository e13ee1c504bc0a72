/* cmd_cost.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_cost(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai cost: not built yet\n");
    return 1;
}
