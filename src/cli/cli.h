#pragma once
/* One entry point per subcommand; each parses its own options. */
int cmd_dump(int argc, char **argv);
int cmd_pre_dump(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_page_server(int argc, char **argv);
