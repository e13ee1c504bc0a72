/* cmd_initialize.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_initialize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai initialize: not built yet\n");
    return 1;
}
