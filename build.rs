//! Records build facts for `moose --version` and the `moose_build_info`
//! metric: crate version, git revision, and the DPDK version pkg-config finds.

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let git =
        output("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = output("git", &["status", "--porcelain", "--untracked-files=no"]).is_some();
    let dpdk =
        output("pkg-config", &["--modversion", "libdpdk"]).unwrap_or_else(|| "not found".into());
    println!(
        "cargo:rustc-env=MOOSE_GIT_REV={git}{}",
        if dirty { "-dirty" } else { "" }
    );
    println!("cargo:rustc-env=MOOSE_DPDK_VERSION={dpdk}");
    // In a worktree `.git` is a file and HEAD lives elsewhere: ask git
    // where, so that the build script reruns only when they change.
    let git_dir = output("git", &["rev-parse", "--git-dir"]).unwrap_or_else(|| ".git".into());
    println!("cargo:rerun-if-changed={git_dir}/HEAD");
    println!("cargo:rerun-if-changed={git_dir}/index");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
}
