//! Generates the gRPC code of `proto/decision/v1` with a pure-Rust protobuf
//! compiler (protox), so building needs no system `protoc`.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());
    let fds = protox::compile(
        [
            "decision/v1/decision.proto",
            "decision/v1/registry.proto",
            "decision/v1/precredit.proto",
            "decision/v1/review.proto",
            "decision/v1/monitoring.proto",
        ],
        [&proto_root],
    )?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("decision_v1_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
