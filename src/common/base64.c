/* placeholder: being written */
extern int pc_placeholder_base64;
