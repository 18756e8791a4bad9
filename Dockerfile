# Base images are pinned by tag and digest, so a build today and a build next year start from
# the same bytes; move both together when updating (scripts/check-deploy refuses a bare tag).
# Build: the release binary, with dependencies cached in their own layer.
FROM rust:1.95.0-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && mkdir -p migrations/postgres migrations/sqlite templates assets \
    && cargo build --release --locked \
    && rm -rf src
COPY src src
COPY migrations migrations
# Built into the binary: the console's templates and /docs's renderer.
COPY templates templates
COPY assets assets
# Make sure cargo rebuilds the crate itself, not just the cached dependencies.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Run: a small Debian image, a non-root user, nothing but the binary and CA certificates.
FROM debian:bookworm-20260824-slim@sha256:88200866dfff7ea7f5cbcb6ec7c8a701889efe6fe859fe64d6990e4b07ea4171
# CA certificates are taken at their current version on purpose: a pinned one would miss
# revocations and new roots, and old versions leave the archive.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --create-home gateway
COPY --from=build /src/target/release/assessment-gateway /usr/local/bin/assessment-gateway
USER 10001:10001
WORKDIR /data
ENV LISTEN_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/assessment-gateway.db
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3"]
ENTRYPOINT ["/usr/local/bin/assessment-gateway"]
CMD ["serve"]
