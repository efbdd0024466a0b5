import { StringDecoder } from "node:string_decoder";
import { NomadError, NomadErrorCode } from "../errors.js";

/** Splits an NDJSON byte stream into parsed values; lines may arrive split across chunks. */
export class NdjsonDecoder {
  readonly #text = new StringDecoder("utf8");
  #buf = "";

  push(chunk: Uint8Array): unknown[] {
    this.#buf += this.#text.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const out: unknown[] = [];
    let nl = this.#buf.indexOf("\n");
    while (nl >= 0) {
      const line = this.#buf.slice(0, nl).trim();
      this.#buf = this.#buf.slice(nl + 1);
      if (line) out.push(parse(line));
      nl = this.#buf.indexOf("\n");
    }
    return out;
  }

  /** Whatever is left at end of stream (a last line without newline). */
  end(): unknown[] {
    const line = (this.#buf + this.#text.end()).trim();
    this.#buf = "";
    return line ? [parse(line)] : [];
  }
}

/**
 * Splits a stream of concatenated JSON objects (`{..}{..}` with optional whitespace between,
 * as Nomad's fs/logs endpoints send) into parsed objects, across arbitrary chunk boundaries.
 * Scans only the new bytes each time, tracking string and escape state.
 */
export class JsonObjectStreamDecoder {
  readonly #text = new StringDecoder("utf8");
  #buf = "";
  #pos = 0;
  #depth = 0;
  #inString = false;
  #escape = false;
  #start = -1;

  push(chunk: Uint8Array): unknown[] {
    this.#buf += this.#text.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const out: unknown[] = [];
    const buf = this.#buf;
    for (let i = this.#pos; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === 0x5c) this.#escape = true;
        else if (c === 0x22) this.#inString = false;
        continue;
      }
      if (c === 0x22) {
        if (this.#depth === 0) throw garbage(buf, i);
        this.#inString = true;
      } else if (c === 0x7b || c === 0x5b) {
        if (this.#depth === 0) {
          if (c !== 0x7b) throw garbage(buf, i);
          this.#start = i;
        }
        this.#depth++;
      } else if (c === 0x7d || c === 0x5d) {
        this.#depth--;
        if (this.#depth < 0) throw garbage(buf, i);
        if (this.#depth === 0) {
          out.push(parse(buf.slice(this.#start, i + 1)));
          this.#start = -1;
        }
      } else if (
        this.#depth === 0 &&
        !(c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x2c)
      ) {
        // Outside an object only whitespace (and the commas of Nomad's documented samples) may appear.
        throw garbage(buf, i);
      }
    }
    // Keep only the unfinished object.
    if (this.#start >= 0) {
      this.#buf = buf.slice(this.#start);
      this.#pos = this.#buf.length;
      this.#start = 0;
    } else {
      this.#buf = "";
      this.#pos = 0;
    }
    return out;
  }

  /** Throws if the stream ended inside an object. */
  end(): void {
    this.#buf += this.#text.end();
    if (this.#depth !== 0 || this.#buf.trim() !== "") {
      throw new NomadError(NomadErrorCode.Decode, "log stream ended inside a frame", {
        body: this.#buf.slice(0, 200),
      });
    }
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new NomadError(NomadErrorCode.Decode, `invalid JSON in stream: ${text.slice(0, 120)}`, {
      body: text.slice(0, 500),
      cause: err,
    });
  }
}

function garbage(buf: string, i: number): NomadError {
  return new NomadError(
    NomadErrorCode.Decode,
    `unexpected character ${JSON.stringify(buf[i])} between frames at ${i}`,
    { body: buf.slice(Math.max(0, i - 40), i + 40) },
  );
}
