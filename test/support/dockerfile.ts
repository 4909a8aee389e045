import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { basename, isAbsolute, join, relative } from "node:path";

// Runs a Dockerfile's steps without a container engine, for the packaging test: each stage gets a directory of its own
// standing for its file system root, COPY copies from the build context (minus .dockerignore) or from another stage,
// RUN runs `sh -c` in WORKDIR with the stage's ENV. Base images are not pulled: the machine's Node and npm stand in
// for them. Only the instructions the project's Dockerfile uses are known; anything else fails the test.

/** One instruction, its `--flag=value` options split off. */
export interface Instruction {
  readonly keyword: string;
  readonly flags: Readonly<Record<string, string>>;
  readonly args: string;
}

/** A `FROM ... AS name` stage and its instructions. */
export interface Stage {
  readonly name: string;
  readonly base: string;
  readonly instructions: readonly Instruction[];
}

/** What the last stage runs: the image's configuration. */
export interface Image {
  /** The stage's WORKDIR on this machine. */
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  /** `USER uid:gid`, when set. */
  readonly user: { readonly uid: number; readonly gid: number } | undefined;
  readonly cmd: readonly string[];
  readonly healthcheck: readonly string[];
  readonly stopSignal: NodeJS.Signals;
}

/** Parses a Dockerfile: instructions (continuation lines joined, comments dropped) grouped by stage. */
export function parseDockerfile(text: string): {
  readonly args: Readonly<Record<string, string>>;
  readonly stages: readonly Stage[];
} {
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const args: Record<string, string> = {};
  const stages: { name: string; base: string; instructions: Instruction[] }[] = [];
  for (const line of lines) {
    const [, keyword = "", rest = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const flags: Record<string, string> = {};
    let remaining = rest;
    for (
      let flag = /^--([a-z-]+)=(\S+)\s*/.exec(remaining);
      flag !== null;
      flag = /^--([a-z-]+)=(\S+)\s*/.exec(remaining)
    ) {
      flags[flag[1]!] = flag[2]!;
      remaining = remaining.slice(flag[0].length);
    }
    const instruction = { keyword: keyword.toUpperCase(), flags, args: remaining };
    if (instruction.keyword === "FROM") {
      const [, base = "", name = String(stages.length)] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(remaining) ?? [];
      stages.push({ name, base: base.replace(/\$\{(\w+)\}/g, (_, arg: string) => args[arg] ?? ""), instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== "ARG") throw new Error(`unexpected ${keyword} before FROM`);
      const [name = "", value = ""] = remaining.split("=");
      args[name] = value;
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { args, stages };
}

/** `.dockerignore` patterns: anchored at the context root, `*` within a path segment, `**` across segments. */
function ignoreMatcher(context: string): (path: string) => boolean {
  const file = join(context, ".dockerignore");
  const patterns = existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== "" && !line.startsWith("#"))
    : [];
  const regexes = patterns.map((pattern) => {
    if (pattern.startsWith("!")) throw new Error(`negated .dockerignore patterns are not emulated: ${pattern}`);
    const source = pattern
      .replace(/^\/+|\/+$/g, "")
      .split("/")
      .map((part) =>
        part === "**"
          ? ".*"
          : part
              .replace(/[.+^${}()|[\]\\]/g, "\\$&")
              .replace(/\*/g, "[^/]*")
              .replace(/\?/g, "[^/]"),
      )
      .join("/");
    return new RegExp(`^${source}(/.*)?$`);
  });
  return (path) => regexes.some((regex) => regex.test(path));
}

/**
 * What a build on this machine reaches the registry with: its certificate authorities and proxies. This machine
 * inspects TLS through a proxy of its own, which a real image build here would need too (a container engine passes
 * proxy variables on request, never certificate authorities: it would need them as build arguments or in the image).
 * Without them npm ci retried every fetch for minutes before falling back to its cache.
 */
const NETWORK_ENV = [
  "NODE_EXTRA_CA_CERTS",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTPS_PROXY",
  "HTTP_PROXY",
  "NO_PROXY",
  "https_proxy",
  "http_proxy",
  "no_proxy",
];

/**
 * The machine's environment a RUN sees: PATH (without any node_modules/.bin of the test run), HOME (npm's cache and
 * configuration) and the network settings above.
 */
function machineEnv(): Record<string, string> {
  const path = (process.env.PATH ?? "")
    .split(":")
    .filter((dir) => !dir.includes("node_modules/.bin"))
    .join(":");
  const network = NETWORK_ENV.flatMap((name) => {
    const value = process.env[name];
    return value === undefined ? [] : [[name, value] as const];
  });
  return { PATH: path, HOME: process.env.HOME ?? "/root", ...Object.fromEntries(network) };
}

const parseEnv = (args: string): Record<string, string> =>
  Object.fromEntries(
    [...args.matchAll(/(\w+)=("[^"]*"|\S*)/g)].map(([, key, value]) => [key!, value!.replace(/^"|"$/g, "")]),
  );

const jsonArray = (args: string): string[] => {
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((word) => typeof word === "string"))
    throw new Error(`not an exec-form array: ${args}`);
  return parsed as string[];
};

/**
 * Runs every stage of `dockerfile` (in `context`) under `root`, and returns the last stage's image configuration.
 * @param log receives each step as it runs, and the output of failed RUN steps.
 * @throws Error naming the step that failed.
 */
export function emulateDockerBuild(
  context: string,
  dockerfile: string,
  root: string,
  log: (line: string) => void = () => undefined,
): Image {
  const { stages } = parseDockerfile(readFileSync(join(context, dockerfile), "utf8"));
  const ignored = ignoreMatcher(context);
  const stageRoots = new Map<string, string>();
  // A non-root USER must be able to reach the stage directories.
  chmodSync(root, 0o755);
  let image: Image | undefined;
  for (const stage of stages) {
    const stageRoot = join(root, stage.name);
    mkdirSync(stageRoot, { recursive: true });
    stageRoots.set(stage.name, stageRoot);
    let workdir = "/";
    const env: Record<string, string> = {};
    let user: Image["user"];
    let cmd: string[] = [];
    let healthcheck: string[] = [];
    let stopSignal: NodeJS.Signals = "SIGTERM";
    const inStage = (path: string) => join(stageRoot, isAbsolute(path) ? path : join(workdir, path));
    for (const { keyword, flags, args } of stage.instructions) {
      log(
        `[${stage.name}] ${keyword} ${Object.entries(flags)
          .map(([k, v]) => `--${k}=${v} `)
          .join("")}${args}`,
      );
      switch (keyword) {
        case "WORKDIR":
          workdir = isAbsolute(args) ? args : join(workdir, args);
          mkdirSync(inStage("."), { recursive: true });
          break;
        case "ENV":
          Object.assign(env, parseEnv(args));
          break;
        case "COPY": {
          if (flags.chown !== undefined) throw new Error("COPY --chown is not emulated");
          const words = args.split(/\s+/);
          const destination = words.pop()!;
          const from = flags.from === undefined ? undefined : stageRoots.get(flags.from);
          if (flags.from !== undefined && from === undefined) throw new Error(`unknown stage ${flags.from}`);
          for (const source of words) {
            const sourcePath = from === undefined ? join(context, source) : join(from, source);
            const intoDirectory = destination.endsWith("/") || words.length > 1;
            if (statSync(sourcePath).isDirectory()) {
              cpSync(sourcePath, inStage(destination), {
                recursive: true,
                filter: (path) => from !== undefined || !ignored(relative(context, path)),
              });
            } else {
              const target = intoDirectory ? join(inStage(destination), basename(source)) : inStage(destination);
              mkdirSync(join(target, ".."), { recursive: true });
              cpSync(sourcePath, target);
            }
          }
          break;
        }
        case "RUN": {
          const result = spawnSync("sh", ["-c", args], {
            cwd: inStage("."),
            env: { ...machineEnv(), ...env },
            encoding: "utf8",
            maxBuffer: 64 * 1024 * 1024,
            ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
          });
          if (result.status !== 0) {
            log(`${result.stdout}${result.stderr}`);
            throw new Error(
              `[${stage.name}] RUN ${args} exited with ${result.status ?? result.signal}:\n${result.stderr}`,
            );
          }
          break;
        }
        case "USER": {
          const [uid = "", gid = uid] = args.split(":");
          if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid)) throw new Error(`USER must be numeric here: ${args}`);
          user = { uid: Number(uid), gid: Number(gid) };
          break;
        }
        case "CMD":
          cmd = jsonArray(args);
          break;
        case "HEALTHCHECK": {
          const [, form = "", rest = ""] = /^(\S+)\s+(.*)$/.exec(args) ?? [];
          if (form !== "CMD") throw new Error(`HEALTHCHECK ${form} is not emulated`);
          healthcheck = jsonArray(rest);
          break;
        }
        case "STOPSIGNAL":
          stopSignal = args as NodeJS.Signals;
          break;
        case "EXPOSE":
          break;
        default:
          throw new Error(`${keyword} is not emulated`);
      }
    }
    image = { workdir: inStage("."), env, user, cmd, healthcheck, stopSignal };
  }
  if (image === undefined) throw new Error("no stage");
  return image;
}
