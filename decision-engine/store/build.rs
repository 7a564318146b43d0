//! Generates the compact decision record's types from
//! `proto/decision/record/v1/record.proto` and the batch trace frame of
//! `trace.proto` with a pure-Rust protobuf compiler
//! (protox), so building needs no system `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!(
        "cargo:rerun-if-changed={}",
        proto_root.join("decision/record").display()
    );
    let fds = protox::compile(
        [
            "decision/record/v1/record.proto",
            "decision/record/v1/trace.proto",
        ],
        [&proto_root],
    )?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
