//! `strata-init`: the program the kernel starts as PID 1 (crate `strata-init`).

#![forbid(unsafe_code)]

fn main() {
    strata_init::main()
}
