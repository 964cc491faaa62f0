// One npm cron engine (node-cron or croner) with N tasks of one expression in this process,
// measuring its own lateness (callback time minus the instant the run was for) and missed
// runs. Driven by bench/peerlib.py, which reads this process's CPU and RSS from /proc.
//
//   node engine.cjs ENGINE MODE N SECONDS NODE_MODULES
//     ENGINE  node-cron | croner
//     MODE    steady: '* * * * * *', measured over SECONDS whole seconds after a 3 s warm-up
//             burst:  '0 * * * * *', measured on the next minute at least 8 s away
//
// stdout: one JSON line when the tasks are scheduled ({"ready", "schedule_s", "start_ms",
// "end_ms"}), then one JSON line with the results once the window is over
// ({"done_ms", "expected", "ran", "late_hist": [[upper_ms, count], ...], ...}).
"use strict";
const path = require("path");
const { performance } = require("perf_hooks");
// Wall clock with sub-millisecond resolution (Date.now() has whole milliseconds).
const nowMs = () => performance.timeOrigin + performance.now();

const [engine, mode, nArg, secondsArg, nodeModulesArg] = process.argv.slice(2);
const nodeModules = path.resolve(nodeModulesArg);
const N = parseInt(nArg, 10);
const SECONDS = parseInt(secondsArg, 10);
const expr = mode === "steady" ? "* * * * * *" : "0 * * * * *";

// Lateness histogram: log-spaced bins 1% wide from 0.01 ms to ~1000 s (cheap and fixed-size,
// so the measurement adds no garbage and almost no RSS).
const BIN0 = 0.01, GROWTH = 1.01;
const NBINS = Math.ceil(Math.log(1e5 / BIN0) / Math.log(GROWTH)) + 1;
const hist = new Float64Array(NBINS);
const logGrowth = Math.log(GROWTH);
let ran = 0, early = 0, lateSum = 0, lateMax = 0, missedEvents = 0;
let startMs = Infinity, endMs = -Infinity; // window of intended instants: [startMs, endMs)

function record(intendedMs) {
  if (intendedMs < startMs || intendedMs >= endMs) return;
  const late = nowMs() - intendedMs;
  ran++;
  if (late < 0) early++;
  lateSum += late;
  if (late > lateMax) lateMax = late;
  const b = late <= BIN0 ? 0 : Math.min(NBINS - 1, Math.ceil(Math.log(late / BIN0) / logGrowth));
  hist[b]++;
}

const t0 = process.hrtime.bigint();
const tasks = [];
if (engine === "node-cron") {
  const cron = require(path.join(nodeModules, "node-cron"));
  for (let i = 0; i < N; i++) {
    // ctx.date is the instant this run is for.
    const task = cron.schedule(expr, (ctx) => { record(ctx.date.getTime()); });
    // A listener counts the runs node-cron drops (more than 1 s late) and keeps it from
    // logging a warning for each one.
    task.on("execution:missed", () => { missedEvents++; });
    tasks.push(task);
  }
} else if (engine === "croner") {
  const { Cron } = require(path.join(nodeModules, "croner"));
  // croner does not pass the intended instant to the callback: it is the last whole second
  // (steady) or minute (burst) at or before the callback, right while lateness stays under
  // one period (croner skips the instants it overran).
  const period = mode === "steady" ? 1000 : 60000;
  for (let i = 0; i < N; i++) {
    tasks.push(new Cron(expr, () => { const now = Date.now(); record(now - (now % period)); }));
  }
} else {
  console.error("unknown engine " + engine);
  process.exit(2);
}
const scheduleS = Number(process.hrtime.bigint() - t0) / 1e9;

const now = Date.now();
if (mode === "steady") {
  startMs = Math.ceil(now / 1000) * 1000 + 3000;
  endMs = startMs + SECONDS * 1000;
} else {
  startMs = Math.ceil(now / 60000) * 60000;
  if (startMs - now < 8000) startMs += 60000;
  endMs = startMs + 1;
}
const expected = N * (mode === "steady" ? SECONDS : 1);
process.stdout.write(JSON.stringify({ ready: true, engine, mode, n: N, schedule_s: scheduleS,
  start_ms: startMs, end_ms: endMs }) + "\n");

function finish() {
  const late_hist = [];
  for (let b = 0; b < NBINS; b++) {
    if (hist[b] > 0) late_hist.push([BIN0 * Math.pow(GROWTH, b), hist[b]]);
  }
  process.stdout.write(JSON.stringify({ done_ms: Date.now(), expected, ran, early,
    late_mean_ms: ran ? lateSum / ran : null, late_max_ms: lateMax, missed_events: missedEvents,
    late_hist }) + "\n", () => process.exit(0));
  for (const t of tasks) t.stop();
}

// The results: for steady, 2 s after the window (late callbacks of its last instants); for a
// burst, once every task ran for the instant, or 59 s after it.
const pollMs = 20;
function poll() {
  const t = Date.now();
  if (mode === "steady" ? t >= endMs + 2000 : (ran >= expected || t >= startMs + 59000)) {
    finish();
  } else {
    setTimeout(poll, t < startMs ? Math.min(1000, startMs - t) : pollMs);
  }
}
setTimeout(poll, 100);
