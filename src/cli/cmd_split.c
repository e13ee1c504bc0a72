/* cmd_split.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_split(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai split: not built yet\n");
    return 1;
}
