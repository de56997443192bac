# Builds the same binary as `cargo build --release`, into a small non-root image.
FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends cmake clang && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY src src
COPY benches benches
COPY tests tests
RUN cargo build --release --locked --bin tokengate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/tokengate /usr/local/bin/tokengate
USER 65532:65532
EXPOSE 9191 9192 9090
ENTRYPOINT ["/usr/local/bin/tokengate"]
CMD ["serve", "--config", "/etc/tokengate/tokengate.yaml"]
