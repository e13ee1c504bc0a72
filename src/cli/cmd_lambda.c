/* cmd_lambda.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_lambda(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai lambda: not built yet\n");
    return 1;
}
