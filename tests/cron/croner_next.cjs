// Reads [{expr, from, count, zone}, ...] as JSON on stdin; writes one JSON array with, per
// item, croner's next `count` runs strictly after `from` in `zone` (default UTC) as UTC ISO
// strings without milliseconds, or {"error": message}. croner is loaded from
// $TICKD_NODE_MODULES.
'use strict';
const path = require('path');
const { createRequire } = require('module');

const modules = process.env.TICKD_NODE_MODULES;
const { Cron } = createRequire(path.join(path.resolve(modules), 'noop.js'))('croner');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map(({ expr, from, count, zone }) => {
    try {
      // sloppyRanges: croner 11 refuses `a/n` (from a to the maximum) without it.
      const job = new Cron(expr, { timezone: zone || 'Etc/UTC', sloppyRanges: true, paused: true });
      return job.nextRuns(count, new Date(from)).map((d) => d.toISOString().replace('.000Z', 'Z'));
    } catch (e) {
      return { error: String(e.message) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
