/* cmd_predict.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_predict(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai predict: not built yet\n");
    return 1;
}
