/**
 * `npm run bench -- <name> [args]`: runs `./<name>.js`, whose `run(args)` prints its figures
 * beside a peer's or a limit's measured in the same run. With no name, runs them all.
 */
import process from "node:process";

export interface BenchModule {
  run(args: string[]): Promise<void>;
}

const benches = ["compiler", "trigger", "exec", "fanout", "nomad", "secrets", "vm", "ssh"] as const;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const names = name ? [name] : [...benches];
  for (const n of names) {
    if (!(benches as readonly string[]).includes(n)) {
      process.stderr.write(`bench: unknown benchmark '${n}' (one of: ${benches.join(", ")})\n`);
      return 2;
    }
    const mod = (await import(`./${n}.js`)) as BenchModule;
    process.stdout.write(`\n== bench ${n} ==\n`);
    await mod.run(rest);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
