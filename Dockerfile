# oauthd container image.
#
#   docker build -t oauthd .
#   docker run -d --name oauthd -p 127.0.0.1:8080:8080 \
#       -e OAUTHD_PUBLIC_URL=https://auth.example.org \
#       -v oauthd-data:/var/lib/oauthd oauthd
#
# The first start prints the first-run admin password once: `docker logs oauthd`.
# See "Deploying: container and systemd" in README.md.

# Build stage: the official Rust image on the same Debian release as the final
# image, so the binary links against the same glibc.
ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: build the locked dependency tree
# against stub sources, so a change to oauthd's own code does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/Cargo.toml
RUN mkdir -p src bench/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > bench/src/main.rs \
    && cargo build --release --locked --bin oauthd \
    && rm -rf src bench/src

# The real sources (.dockerignore keeps target/, .git and the like out).
# Migrations, templates and static files are compiled into the binary. The
# stubs above may be newer than the copied files, so touch the crate roots or
# cargo would keep the stub build.
COPY . .
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin oauthd \
    && install -D -m 0755 target/release/oauthd /out/oauthd

# Final stage: glibc-based slim Debian (SQLite is compiled into the binary;
# nothing else is linked beyond libc and libgcc_s). busybox supplies `wget`
# for the health check: oauthd has no HTTP client of its own and the slim
# image has neither curl nor wget; busybox is one small package.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends busybox \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 oauthd \
    && useradd --system --uid 10001 --gid oauthd --home-dir /var/lib/oauthd \
       --no-create-home --shell /usr/sbin/nologin oauthd \
    && install -d -o oauthd -g oauthd -m 0750 /var/lib/oauthd

COPY --from=build /out/oauthd /usr/local/bin/oauthd

# Listen on every interface of the container. The default database,
# sqlite://oauthd.db, is relative to the working directory: the volume. It is
# not set here, so that DATABASE_URL, OAUTHD_DATABASE__URL or a config file
# (OAUTHD_CONFIG) can name Postgres instead. Set OAUTHD_PUBLIC_URL to the
# address clients use, and OAUTHD_TRUSTED_PROXIES to the proxy in front.
# /metrics has a port of its own, on every interface of the container (its
# loopback default would be out of Prometheus's reach); nothing outside
# reaches it unless the port is published (-p 127.0.0.1:9464:9464).
ENV OAUTHD_LISTEN=0.0.0.0:8080 OAUTHD_METRICS__LISTEN=0.0.0.0:9464
VOLUME /var/lib/oauthd
WORKDIR /var/lib/oauthd
USER 10001:10001
EXPOSE 8080 9464

# /healthz answers 200 {"status":"ok"} while the process serves; wget exits
# non-zero on any other status or no answer. The port follows OAUTHD_LISTEN.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD busybox wget -q -O /dev/null "http://127.0.0.1:${OAUTHD_LISTEN##*:}/healthz" || exit 1

# oauthd stops on SIGTERM (docker stop), after at most
# http.shutdown_grace_secs (30 s): give `docker stop -t 35` for the full grace.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/oauthd"]
CMD ["serve"]
