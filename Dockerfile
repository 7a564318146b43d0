# The decision engine's image: built in a Rust image, run from a distroless
# one (glibc and the C runtime, no shell, no package manager, no build
# tools), as a non-root user.
#
#   docker build -t decision-engine:dev .
#   docker run --rm -p 50051:50051 -p 8080:8080 decision-engine:dev
#
# The image serves gRPC on 50051, REST/JSON on 8080 and Prometheus metrics on
# 9464, with the embedded SQLite store in /var/lib/decision-engine/data unless
# DECISION_ENGINE_STORE names a PostgreSQL database (as in Kubernetes).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# One binary; the engine's crates and the policy it embeds.
RUN cargo build --release --locked -p decision-engine --bin decision-engine \
    && install -D -m 0755 target/release/decision-engine /out/decision-engine \
    && install -d -m 0755 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/decision-engine /usr/local/bin/decision-engine
COPY --from=build --chown=65532:65532 /out/data /var/lib/decision-engine/data
USER 65532:65532
WORKDIR /var/lib/decision-engine
EXPOSE 50051 8080 9464
ENTRYPOINT ["/usr/local/bin/decision-engine"]
CMD ["serve", "--listen", "0.0.0.0:50051", "--http-listen", "0.0.0.0:8080", \
     "--metrics-listen", "0.0.0.0:9464", "--data-dir", "/var/lib/decision-engine/data"]
