//! Build script. Only the `winfsp` feature needs one: WinFsp's DLL must be
//! delay-loaded (it lives in WinFsp's install folder, not next to the program),
//! which takes linker flags that the `winfsp` crate's build helper emits.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "winfsp")]
    winfsp_link();
}

#[cfg(feature = "winfsp")]
fn winfsp_link() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    // The helper knows MSVC and LLVM-MinGW linkers and panics on anything else.
    // Other targets (the Linux build, the windows-gnu type check in CI) link
    // no WinFsp, so they get no flags.
    let linkable = var("CARGO_CFG_TARGET_OS") == "windows"
        && (var("CARGO_CFG_TARGET_ENV") == "msvc"
            || (var("CARGO_CFG_TARGET_ENV") == "gnu" && var("CARGO_CFG_TARGET_ABI") == "llvm"));
    if linkable {
        winfsp::build::winfsp_link_delayload();
    }
}
