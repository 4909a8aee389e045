// What a process allocates per request, garbage included:
// `BENCH_NODE_FLAGS="--import $PWD/bench/allocation-profile.mjs"` (or BENCH_CEILING_FLAGS for the ceilings; an absolute
// path: a gateway of `--against` starts in its own directory). V8's sampling heap profiler runs from
// the start to the exit, keeping the samples of objects the garbage collector has freed too (a plain heap profile keeps
// only the live ones), and the HTTP requests the process received are counted. At exit the profile is written to the
// temporary directory as `allocation-<pid>-<requests>.heapprofile` (Chrome DevTools' Memory tab opens it) and the total
// per request is printed. The bytes include the process's start (~14 MB) and the count the bench's warm-up and health
// checks, so compare processes of one run that served similar numbers of requests: the figure does not move with the
// machine's speed, as requests/s do (a busy machine allocates the same bytes per request).
import diagnostics from "node:diagnostics_channel";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { tmpdir } from "node:os";
import { join } from "node:path";

let requests = 0;
diagnostics.subscribe("http.server.request.start", () => {
  requests++;
});
const session = new Session();
session.connect();
session.post("HeapProfiler.enable");
session.post("HeapProfiler.startSampling", {
  samplingInterval: 4096,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
process.on("exit", () => {
  // An inspector session of the process itself answers synchronously, so this runs before the exit.
  session.post("HeapProfiler.stopSampling", (error, result) => {
    if (error !== null) return;
    const file = join(tmpdir(), `allocation-${process.pid}-${requests}.heapprofile`);
    writeFileSync(file, JSON.stringify(result.profile));
    let bytes = 0;
    const add = (node) => {
      bytes += node.selfSize;
      for (const child of node.children) add(child);
    };
    add(result.profile.head);
    process.stderr.write(
      `allocation profile ${file}: ${(bytes / 1e6).toFixed(1)} MB for ${requests} requests, ${requests === 0 ? "-" : Math.round(bytes / requests)} B per request\n`,
    );
  });
});
