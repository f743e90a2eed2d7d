# syntax=docker/dockerfile:1
# Multi-arch image of the capt manager:
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/capt-eks/capt:v0.1.0 .

FROM --platform=$BUILDPLATFORM rust:1.95-bookworm AS builder
ARG TARGETARCH
WORKDIR /src
RUN set -eux; \
    case "$TARGETARCH" in \
      amd64) triple=x86_64-unknown-linux-gnu; gcc=gcc-x86-64-linux-gnu; cc=x86_64-linux-gnu-gcc ;; \
      arm64) triple=aarch64-unknown-linux-gnu; gcc=gcc-aarch64-linux-gnu; cc=aarch64-linux-gnu-gcc ;; \
      *) echo "unsupported TARGETARCH $TARGETARCH" >&2; exit 1 ;; \
    esac; \
    apt-get update; \
    apt-get install -y --no-install-recommends "$gcc" "libc6-dev-${TARGETARCH}-cross"; \
    rm -rf /var/lib/apt/lists/*; \
    rustup target add "$triple"; \
    printf '%s\n%s\n' "$triple" "$cc" > /tmp/target
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=capt-target-${TARGETARCH} \
    set -eux; \
    triple="$(sed -n 1p /tmp/target)"; cc="$(sed -n 2p /tmp/target)"; \
    env_triple="$(echo "$triple" | tr 'a-z-' 'A-Z_')"; \
    export "CARGO_TARGET_${env_triple}_LINKER=$cc" "CC_$(echo "$triple" | tr '-' '_')=$cc"; \
    cargo build --locked --release --no-default-features -p capt --bin capt --target "$triple"; \
    install -D "target/$triple/release/capt" /out/capt

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/capt /capt
USER 65532:65532
ENTRYPOINT ["/capt"]
