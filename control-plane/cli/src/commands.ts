/** The `drover` command table: each command lives in `commands/<name>.ts` and is loaded only when used. */
import process from "node:process";
import { HelpRequested, UsageError } from "./args.js";

export interface CommandModule {
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

export const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  config: {
    summary: "validate or process a .circleci/config.yml",
    load: () => import("./commands/config.js"),
  },
  up: {
    summary: "run every service in one process on embedded defaults",
    load: () => import("./commands/up.js"),
  },
  run: {
    summary: "build a checkout's working-tree config and follow it",
    load: () => import("./commands/run.js"),
  },
  pipeline: {
    summary: "trigger, list or show pipelines",
    load: () => import("./commands/pipeline.js"),
  },
  workflow: {
    summary: "rerun a workflow (--from-failed, --ssh)",
    load: () => import("./commands/workflow.js"),
  },
  project: {
    summary: "add a project",
    load: () => import("./commands/project.js"),
  },
  token: {
    summary: "create, list or revoke API tokens",
    load: () => import("./commands/token.js"),
  },
  nomad: {
    summary: "render the Nomad job bodies of a pipeline, or list Drover's Nomad jobs",
    load: () => import("./commands/nomad.js"),
  },
  vm: {
    summary: "list or destroy vm-service's machines (operators)",
    load: () => import("./commands/vm.js"),
  },
  runner: {
    summary: "run the agents of the queue scheduler on this host (distributed mode)",
    load: () => import("./commands/runner.js"),
  },
  tls: {
    summary: "create a CA and server or client certificates (as nomad tls)",
    load: () => import("./commands/tls.js"),
  },
  doctor: {
    summary: "check a running deployment: services, TLS, dependencies, forbidden paths",
    load: () => import("./commands/doctor.js"),
  },
  "network-rules": {
    summary: "print the ports table as a table or firewall rules (nftables, AWS, GCP, Nomad)",
    load: () => import("./commands/network-rules.js"),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: drover <command> [args]\n\ncommands:\n${lines.join("\n")}\n`;
}

/** Runs `drover <argv>`; resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`drover: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load()).run(rest);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.usage);
      return 0;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`${err.command}: ${err.message}\n\n${err.usage}`);
      return 2;
    }
    // Errors of the user's situation (server down, no settings, an API refusal): one sentence.
    const code = (err as { code?: unknown } | null)?.code;
    if (err instanceof Error && typeof code === "string" && code.startsWith("DROVER_ERR_")) {
      process.stderr.write(`drover ${name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
