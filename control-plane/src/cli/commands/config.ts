/** `drover config validate|process` (placeholder until the compiler lands). */
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write("drover config: the compiler is not built yet\n");
  return 1;
}
