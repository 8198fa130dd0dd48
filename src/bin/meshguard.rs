//! The `meshguard` command line (see `meshguard --help`).

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    meshguard::cli::main()
}

// The plugin is the library; on wasm32 this binary has nothing to do.
#[cfg(target_arch = "wasm32")]
fn main() {}
