/*
 * rules.h — `contactd rules check [DIR]` and `contactd rules list [DIR]`.
 */
#ifndef CD_CMD_RULES_H
#define CD_CMD_RULES_H

/* argv[0] is "rules". Returns the process exit status. */
int cd_rules_main(int argc, char **argv);

#endif
