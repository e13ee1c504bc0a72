/* cmd_aws.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_aws(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai aws: not built yet\n");
    return 1;
}
