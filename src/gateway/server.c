/* placeholder: being written */
extern int pc_placeholder_server;
