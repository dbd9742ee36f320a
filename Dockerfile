# registrar as a container: a static (musl) binary on distroless, run as a non-root user.
#
#   docker build -t registrar .
#   docker run --rm -v "$PWD:/work" -e APIGEE_TOKEN registrar plan
#
# Nothing secret is copied into any layer: credentials come from the environment (or a
# mounted GOOGLE_APPLICATION_CREDENTIALS file) when the container runs, and .dockerignore
# keeps .registrar/ and secrets/ out of the build context.

FROM rust:1.89-bookworm AS build
# musl-tools: the C compiler for the bundled SQLite and ring, for the musl target.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY schema ./schema
RUN cargo build --release --locked --target x86_64-unknown-linux-musl \
    && cp target/x86_64-unknown-linux-musl/release/registrar /registrar

# CA certificates (for https to Apigee and Google) and a nonroot user, nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /registrar /usr/local/bin/registrar
# 65532: distroless's `nonroot` user, numeric so that any runtime resolves it.
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/registrar"]
CMD ["--help"]
