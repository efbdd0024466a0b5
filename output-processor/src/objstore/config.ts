import { z } from "zod";
import { OutputError } from "../errors.js";
import { hasControlChars } from "./chars.js";

/** S3 bucket names (general purpose): 3-63 of lower-case letters, digits, dots and hyphens. */
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const s3ConfigSchema = z
  .object({
    /**
     * `http(s)://host[:port]` of an S3-compatible API (requests are path-style, `/bucket/key`);
     * unset: AWS S3 in `region`.
     */
    endpoint: z
      .string()
      .min(1)
      .refine((v) => {
        try {
          const u = new URL(v);
          return (
            (u.protocol === "http:" || u.protocol === "https:") &&
            u.pathname === "/" &&
            !u.search &&
            !u.hash
          );
        } catch {
          return false;
        }
      }, "must be an http(s) URL with no path, query or fragment")
      .transform((v) => v.replace(/\/+$/, ""))
      .optional(),
    bucket: z.string().regex(BUCKET_RE, "must be a valid S3 bucket name"),
    region: z.string().min(1).default("us-east-1"),
    /** Static keys; unset, the SDK's credential chain (environment, profile, IRSA, instance role). */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    /** Prepended to every key (a trailing `/` is added when missing). */
    prefix: z
      .string()
      .default("")
      .refine(
        (p) => !p.startsWith("/") && !hasControlChars(p),
        "no leading / or control characters",
      )
      .transform((p) => (p && !p.endsWith("/") ? `${p}/` : p)),
    /** Per-request timeout. */
    timeoutMs: z.number().int().positive().default(30_000),
    /** Retries of a request that failed on the network, with a 5xx or throttled. */
    maxRetries: z.number().int().min(0).max(10).default(3),
  })
  .superRefine((c, ctx) => {
    if (Boolean(c.accessKeyId) !== Boolean(c.secretAccessKey)) {
      ctx.addIssue({
        code: "custom",
        path: [c.accessKeyId ? "secretAccessKey" : "accessKeyId"],
        message: "static keys come in pairs (or leave both unset for the SDK's credential chain)",
      });
    }
  });
export type S3Config = z.infer<typeof s3ConfigSchema>;
export type S3ConfigInput = z.input<typeof s3ConfigSchema>;

export function parseS3Config(input: unknown): S3Config {
  const r = s3ConfigSchema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new OutputError("DROVER_ERR_OUTPUT_CONFIG", `invalid object storage config: ${issues}`);
  }
  return r.data;
}
