/* cmd_summarize.c — placeholder until its issue lands; replaced by the real command. */
#include <stdio.h>

#include "commands.h"

int cmd_summarize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "cai summarize: not built yet\n");
    return 1;
}
