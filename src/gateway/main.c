/* placeholder: being written */
extern int pc_placeholder_main;
int main(void) { return 0; }
