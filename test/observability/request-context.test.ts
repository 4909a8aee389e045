import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { carriesRequestContext, withRequestContext } from "../../src/observability/request-context.js";

/** A logger whose lines are kept, parsed (and as written: `raw`). */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(chunk.toString("utf8"));
      lines.push(JSON.parse(chunk.toString("utf8")) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger("info", destination), lines, raw };
}

describe("the request context of log lines", () => {
  it("is carried where the runtime carries it cheaply: Node 24 and later", () => {
    expect(carriesRequestContext).toBe(Number(process.versions.node.split(".")[0]) >= 24);
  });

  it("names the request on a line written below the handler, after awaits, exactly where it is carried", async () => {
    const { log, lines } = capturingLogger();
    const served = await withRequestContext({ requestId: "req-1" }, async () => {
      await new Promise((resolve) => setImmediate(resolve));
      log.warn("written deep inside");
      return "answer";
    });
    log.warn("written outside any request");
    expect(served).toBe("answer");
    expect(lines.map((line) => line.requestId)).toEqual([carriesRequestContext ? "req-1" : undefined, undefined]);
  });

  it("lets a line's own requestId win over the context's, without a second field", async () => {
    const { log, lines, raw } = capturingLogger();
    withRequestContext({ requestId: "from-context" }, () => log.info({ requestId: "own" }, "request"));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.requestId).toBe("own");
    expect(raw[0]!.match(/"requestId"/g)).toHaveLength(1);
  });
});
