"""tickd's test rig: the one library the Python tests (tests/*) and the benchmarks (bench/) share.

It is found through PYTHONPATH: meson's test() sets it to tests/lib for every Python test
(tests/meson.build), `meson devenv -C build` does the same for a shell, bench/run sets it for
the benchmarks, and by hand it is `PYTHONPATH=tests/lib python3 tests/e2e/crash.py build/tickd`.

    util           skipping (Skip, exit 77), free ports, libpq URIs, wait_for, check, HTTP GET,
                   the Prometheus text format, percentiles
    rig            a fresh schema, `tickd migrate`, `tickd run` processes, cleanup; TcpProxy
    pg             a private PostgreSQL cluster and a PgBouncer in transaction pooling mode
    autofailover   a pg_auto_failover formation (monitor, primary, synchronous secondary)
    s3             the S3 peers: tests/storage/s3_peer.py and npm's s3rver
    handlers       the handler tests' files, file server, audits and secrets
    migrate        the migration tests' schemas and `tickd migrate` runs
    chaos          the chaos suite's scraper, running-row watch and tables
    ops            the ops suite's paths, metric names, rules, dashboard and Dockerfile
    browser        headless Chromium + Selenium for the console (alerts and CSP violations caught)
"""
