//! Links the check suite's test binary as a fixed-address executable on Linux.
//!
//! The suite's fake `kind` and `docker` are that binary, started under those names about
//! 1,400 times per `cargo test`. As a position-independent executable each start applies
//! about 120,000 relocations and faults in 530 pages (3.4 ms of CPU); at a fixed address
//! it needs neither (1.4 ms). Only the tests are linked so: `cargo xtask` keeps its
//! address randomization.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-tests=-no-pie");
    }
}
