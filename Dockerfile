# tickd container image.
#   build:  docker build -t tickd .      (or: buildah bud --format docker -t tickd .)
#   run:    docker run -e DATABASE_URL=postgres://... -p 9464:9464 tickd
#           docker run -e DATABASE_URL=... tickd migrate
# tickd finishes in-flight ticks for up to SHUTDOWN_GRACE_MS (30 s) after SIGTERM: give
# `docker stop` (-t 35) or Kubernetes (terminationGracePeriodSeconds) more than that.

# --- build stage: Debian's -dev packages, a release build of the tickd executable ---------
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential meson ninja-build pkg-config cmake python3 \
      libpqxx-dev libboost-dev libspdlog-dev prometheus-cpp-dev doctest-dev \
      libhowardhinnant-date-dev libtomlplusplus-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release --wrap-mode=nodownload \
 && meson compile -C /build tickd \
 && strip /build/tickd \
 && /build/tickd --version

# --- runtime stage: only the shared libraries tickd links, tzdata for time zones -----------
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpqxx-6.4 libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 libdate-tz3 \
      libtomlplusplus3 libcurl4 tzdata ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tickd \
 && useradd --system --uid 10001 --gid tickd --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tickd
COPY --from=build /build/tickd /usr/local/bin/tickd
COPY config/tickd.example.toml /etc/tickd/tickd.example.toml
# Fails the build if a runtime library is missing.
RUN tickd --version

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
ENV TICKD_HTTP_ADDR=0.0.0.0:9464
EXPOSE 9464
STOPSIGNAL SIGTERM
# /healthz on the port of TICKD_HTTP_ADDR, over loopback.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${TICKD_HTTP_ADDR##*:}/healthz" || exit 1
ENTRYPOINT ["tickd"]
CMD ["run"]
