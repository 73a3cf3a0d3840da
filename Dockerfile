# terraserve container image: build on Debian 12 with the same script and CMake preset
# as `make run`, run on bookworm-slim as a non-root user.
FROM debian:bookworm AS build
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN deploy/install-deps.sh build
COPY . .
# -march=x86-64-v3 keeps the image portable to any AVX2 machine.
RUN cmake --preset release -DTERRASERVE_ARCH=x86-64-v3 -DTERRASERVE_BUILD_TESTS=OFF \
      -DTERRASERVE_BUILD_BENCH=OFF \
 && cmake --build --preset release --target terraserve terraserve-cli

FROM debian:bookworm-slim
COPY deploy/install-deps.sh /tmp/install-deps.sh
RUN /tmp/install-deps.sh runtime && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
 && useradd --system --uid 10001 --no-create-home terraserve
COPY --from=build /src/build/release/server/terraserve /src/build/release/server/terraserve-cli /usr/local/bin/
COPY --from=build /src/models /opt/terraserve/models
USER 10001
ENV TERRASERVE_HOST=0.0.0.0 \
    TERRASERVE_PORT=50051 \
    TERRASERVE_METRICS_PORT=9464 \
    TERRASERVE_MODEL_DIR=/opt/terraserve/models/terraformer-tiny
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["terraserve-cli", "--addr=127.0.0.1:50051", "--timeout=4", "health"]
ENTRYPOINT ["terraserve"]
