//! `strata-init`: the program the kernel starts as PID 1 (crate `strata-init`).

fn main() {
    strata_init::main()
}
