/*
 * rules_cmd.h — `contactd rules check [DIR]` and `contactd rules list [DIR]`.
 */
#ifndef CD_CONSUMER_RULES_CMD_H
#define CD_CONSUMER_RULES_CMD_H

/* argv[0] is "rules". Returns the process exit status. */
int cd_rules_main(int argc, char **argv);

#endif
