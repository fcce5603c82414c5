//! Finds DPDK with pkg-config, generates bindings with bindgen, and compiles
//! the C wrappers bindgen emits for DPDK's `static inline` functions.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    // Shared libraries, so the EAL finds and dlopens the PMD plugins
    // (net_null, net_pcap, net_af_packet, ...) from its driver directory.
    let dpdk = match pkg_config::Config::new()
        .atleast_version("22.11")
        .statik(false)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => panic!(
            "dpdk-ffi: DPDK (pkg-config `libdpdk` >= 22.11) not found: {e}\n\
             install it with: apt-get install -y dpdk dpdk-dev libdpdk-dev libclang-dev clang pkg-config"
        ),
    };
    println!("cargo:rustc-env=DPDK_VERSION={}", dpdk.version);

    // `pkg-config --cflags libdpdk`: -I paths, `-include rte_config.h`,
    // -march; used verbatim for both bindgen and the wrapper compile.
    let cflags = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("dpdk-ffi: running pkg-config --cflags libdpdk");
    let mut cflags: Vec<String> = String::from_utf8_lossy(&cflags.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    // Some ethdev/EAL calls are still tagged experimental in 22.11.
    cflags.push("-DALLOW_EXPERIMENTAL_API".into());

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let here = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let wrap_src = out.join("dpdk_static_fns");

    let bindings = bindgen::Builder::default()
        .header(here.join("wrapper.h").to_string_lossy())
        .clang_args(&cflags)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .allowlist_function("rte_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("rte_.*|RTE_.*")
        // The telemetry command callback's type (rte_telemetry.h names it
        // without the prefix).
        .allowlist_type("telemetry_cb")
        // Packed structs nested in aligned ones: rustc rejects the layout.
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_gtp_psc_generic_hdr")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .derive_debug(false)
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrap_src)
        .generate()
        .expect("dpdk-ffi: bindgen failed on wrapper.h");
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("dpdk-ffi: writing bindings.rs");

    // bindgen writes `<path>.c` with one non-inline wrapper per static inline fn.
    let mut cc = cc::Build::new();
    cc.file(wrap_src.with_extension("c"))
        .include(&here)
        .flag_if_supported("-Wno-deprecated-declarations")
        .flag_if_supported("-Wno-duplicate-decl-specifier")
        .opt_level(2);
    for f in &cflags {
        cc.flag(f);
    }
    cc.compile("dpdk_static_fns");
}
