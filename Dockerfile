# tickd container image.
#   build:  docker build -t tickd .           (no Docker engine: scripts/build-image, buildah)
#   run:    docker run -e DATABASE_URL=postgres://... -p 9464:9464 tickd
#           docker run -e DATABASE_URL=... tickd migrate
#           docker run --rm tickd cron next '*/5 * * * *' --tz Europe/Paris
# tickd finishes in-flight ticks for up to SHUTDOWN_GRACE_MS (30 s) after SIGTERM: give
# `docker stop` (-t 40), compose (stop_grace_period) or Kubernetes
# (terminationGracePeriodSeconds) more than that.
# The README's "Operations" section has the rest: compose stack, systemd, alerts.

ARG VERSION=dev

# --- build stage: Debian's -dev packages, a release build of the tickd executable ---------
# The libraries are the -dev packages that scripts/lib/packages.txt tags `quickstart` (what
# ./scripts/quickstart installs to build), so a new dependency needs no edit here.
# (Few instructions on purpose: with buildah's vfs storage every layer is a full copy.)
FROM debian:bookworm AS build
COPY scripts/lib/packages.txt /tmp/packages.txt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ meson ninja-build pkg-config cmake python3 \
      $(sed -e 's/#.*//' /tmp/packages.txt | awk '$1 ~ /-dev$/ && / quickstart( |$)/ { print $1 }') \
 && rm -rf /var/lib/apt/lists/* /tmp/packages.txt
COPY . /src
# No -Werror here: the warnings gate is the developers' build (./scripts/test, and a release
# build passes it too); a package build should not fail on a new compiler's new warning.
# /out/root is what the runtime stage copies to /; /out/runtime-packages lists the Debian
# packages that hold the shared libraries tickd links (libc, libstdc++ and libgcc are in
# every Debian image), so the runtime stage installs exactly those.
RUN cd /src \
 && meson setup /build --buildtype=release -Dwerror=false --wrap-mode=nodownload \
 && meson compile -C /build tickd:executable \
 && /build/tickd --version \
 && install -D -s -m 0755 /build/tickd /out/root/usr/local/bin/tickd \
 && install -D -m 0644 config/tickd.example.toml /out/root/etc/tickd/tickd.example.toml \
 && for lib in $(ldd /build/tickd | awk '$3 ~ /^\// { print $3 }'); do \
      real=$(realpath "$lib"); \
      for p in "$lib" "$real" "/usr$lib" "${lib#/usr}" "/usr$real" "${real#/usr}"; do \
        if pkg=$(dpkg -S "$p" 2>/dev/null); then echo "${pkg%%:*}"; break; fi; \
      done; \
    done | sort -u | grep -v -x -e libc6 -e libstdc++6 -e libgcc-s1 > /out/runtime-packages \
 && echo "runtime packages:" $(cat /out/runtime-packages) \
 && rm -rf /build

# --- runtime stage: only the shared libraries tickd links, tzdata for time zones -----------
FROM debian:bookworm-slim
ARG VERSION
LABEL org.opencontainers.image.title="tickd" \
      org.opencontainers.image.description="Cron-driven, reconciling scheduler on PostgreSQL" \
      org.opencontainers.image.version="${VERSION}"
ENV TICKD_HTTP_ADDR=0.0.0.0:9464
EXPOSE 9464
STOPSIGNAL SIGTERM
# GET /healthz on the port of TICKD_HTTP_ADDR, over loopback, with bash's /dev/tcp (no curl
# in the image). /healthz is liveness; use /readyz for readiness (Kubernetes probes).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${TICKD_HTTP_ADDR##*:} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 2 _ code _ <&3 && [ \"$code\" = 200 ]"]
ENTRYPOINT ["tickd"]
CMD ["run"]
# Cached while the library set stays the same.
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $(cat /tmp/runtime-packages) tzdata ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/runtime-packages \
 && groupadd --system --gid 10001 tickd \
 && useradd --system --uid 10001 --gid tickd --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tickd
COPY --from=build /out/root/ /
# Fails the build if a runtime library is missing.
RUN ! ldd /usr/local/bin/tickd | grep 'not found' && tickd --version
# Numeric, so that Kubernetes' runAsNonRoot can verify it. tickd writes no files: the root
# file system may be read-only.
USER 10001:10001
