// croner's nextRun on the cases of bench/cron-cases.txt from the same 1024 instants as
// bench/cron_bench.cpp. Prints JSON: [{zone, expr, ns}] (mean CPU nanoseconds per nextRun).
// UTC cases use croner's utcOffset: 0 (its fastest UTC mode), others its `timezone` option.
// Usage: node croner_bench.cjs CASES_FILE NODE_MODULES_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const [casesFile, modules] = process.argv.slice(2);
const { Cron } = createRequire(path.join(path.resolve(modules), 'noop.js'))('croner');

const starts = [];
for (let i = 0; i < 1024; i++) {
  starts.push(new Date((1767225600 + ((i * 2654435761) % 31536000)) * 1000));
}

function measure(job) {
  let sink = 0;
  const run = (n) => {
    for (let i = 0; i < n; i++) sink += job.nextRun(starts[i & 1023]).getTime() & 1;
  };
  run(20000);  // warm up the JIT
  // CPU time of this process (user + system), as Google Benchmark's cpu_time on the C++ side,
  // so that other load on the machine does not skew the ratio.
  const cpuNs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1000;
  };
  let n = 20000;
  for (;;) {
    const t0 = cpuNs();
    run(n);
    const ns = cpuNs() - t0;
    if (ns > 5e8) return { ns: ns / n, sink };
    n *= 2;
  }
}

const out = [];
for (const line of fs.readFileSync(casesFile, 'utf8').split('\n')) {
  if (!line || line.startsWith('#')) continue;
  const [zone, expr] = line.split('\t');
  // croner's fastest UTC set-up is a fixed offset; its `timezone` option goes through Intl
  // and is about 6x slower, so UTC cases use utcOffset: 0.
  const zoneOption = zone === 'UTC' ? { utcOffset: 0 } : { timezone: zone };
  const job = new Cron(expr, { ...zoneOption, paused: true });
  out.push({ zone, expr, ns: measure(job).ns });
}
process.stdout.write(JSON.stringify(out));
