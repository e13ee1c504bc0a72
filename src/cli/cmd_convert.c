/* cmd_convert.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_convert(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai convert: not built yet\n");
    return 1;
}
