// R's entry point: silence Rust's default panic printer, then register the routines.
void R_init_sygnet_extendr(void *dll);
void register_extendr_panic_hook(void);

void R_init_sygnet(void *dll) {
    register_extendr_panic_hook();
    R_init_sygnet_extendr(dll);
}
