import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { open, stat } from "node:fs/promises";
import { SecretsError } from "./errors.js";

/** A master key is 32 random bytes, written as base64 (44 characters) or hex (64). */
export function parseMasterKey(text: string, where: string): Buffer {
  const t = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, "hex");
  else if (/^[A-Za-z0-9+/]{43}=$/.test(t)) key = Buffer.from(t, "base64");
  if (!key || key.length !== 32) {
    throw new SecretsError(
      "DROVER_ERR_SECRETS_MASTER_KEY_MISSING",
      `${where} is not a master key: expected 32 bytes as base64 (44 characters) or hex (64 characters); generate one with \`openssl rand -base64 32\``,
    );
  }
  return key;
}

/** A new master key in its base64 form. */
export function generateMasterKey(): string {
  return randomBytes(32).toString("base64");
}

export interface MasterKeySource {
  /** The key itself (`DROVER_MASTER_KEY`); wins over `file`. */
  value?: string | undefined;
  /** A file holding the key (`DROVER_MASTER_KEY_FILE`); must be mode 0600 (no group/other bits). */
  file?: string | undefined;
  /** Create `file` (0600, new random key) when it does not exist: the single-machine default. */
  createIfMissing?: boolean | undefined;
}

/** Reads the master key from the environment value or the 0600 file; fails closed otherwise. */
export async function loadMasterKey(source: MasterKeySource): Promise<Buffer> {
  if (source.value !== undefined && source.value !== "") {
    return parseMasterKey(source.value, "DROVER_MASTER_KEY");
  }
  if (!source.file) {
    throw new SecretsError(
      "DROVER_ERR_SECRETS_MASTER_KEY_MISSING",
      "no master key: set DROVER_MASTER_KEY or DROVER_MASTER_KEY_FILE (a 0600 file)",
    );
  }
  const file = source.file;
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && source.createIfMissing) {
      return createKeyFile(file);
    }
    throw new SecretsError(
      "DROVER_ERR_SECRETS_MASTER_KEY_MISSING",
      `cannot read master key file ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if ((info.mode & 0o077) !== 0) {
    throw new SecretsError(
      "DROVER_ERR_SECRETS_MASTER_KEY_FILE_MODE",
      `master key file ${file} has mode ${(info.mode & 0o777).toString(8)}; it must be 600 (chmod 600 ${file})`,
    );
  }
  const handle = await open(file, constants.O_RDONLY);
  try {
    return parseMasterKey(await handle.readFile("utf8"), `master key file ${file}`);
  } finally {
    await handle.close();
  }
}

async function createKeyFile(file: string): Promise<Buffer> {
  const text = generateMasterKey();
  let handle;
  try {
    handle = await open(file, "wx", 0o600);
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return loadMasterKey({ file });
    throw new SecretsError(
      "DROVER_ERR_SECRETS_MASTER_KEY_MISSING",
      `cannot create master key file ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    await handle.writeFile(text + "\n");
    await handle.sync();
  } finally {
    await handle.close();
  }
  return Buffer.from(text, "base64");
}
