/** Webhook deliveries already turned into pipelines: how a replay is recognized. */
import { createHash } from "node:crypto";
import type { Queryable } from "../db/types.js";

/**
 * One delivery as the forge sent it. `id` is the forge's delivery id (absent from old GitLab
 * versions); `bodySha256` covers the signed bytes, so a replay under a made-up id (the id header is
 * not signed) is still recognized. A new push whose delivery is byte-identical to an earlier one
 * counts as its replay too.
 */
export interface Delivery {
  forge: "github" | "gitlab";
  id: string | null;
  bodySha256: string;
}

export const deliveryOf = (
  forge: Delivery["forge"],
  id: string | undefined,
  raw: Buffer,
): Delivery => ({
  forge,
  id: id ?? null,
  bodySha256: createHash("sha256").update(raw).digest("hex"),
});

/** The pipeline an earlier delivery of this project made, or null. */
export async function pipelineOfDelivery(
  q: Queryable,
  projectId: string,
  d: Delivery,
): Promise<string | null> {
  const { rows } = await q.query<{ pipeline_id: string }>(
    `SELECT pipeline_id FROM webhook_deliveries
      WHERE project_id = $1 AND (delivery_id = $2 OR body_sha256 = $3)
      ORDER BY received_at LIMIT 1`,
    [projectId, d.id, d.bodySha256],
  );
  return rows[0]?.pipeline_id ?? null;
}

/**
 * Records that `pipelineId` came from `d`, in the pipeline's transaction. False when another
 * transaction recorded the same delivery first (on PostgreSQL this waits for it to commit): the
 * caller rolls its pipeline back and answers with that one.
 */
export async function recordDelivery(
  tx: Queryable,
  projectId: string,
  d: Delivery,
  pipelineId: string,
): Promise<boolean> {
  const { rows } = await tx.query(
    `INSERT INTO webhook_deliveries (project_id, forge, delivery_id, body_sha256, pipeline_id)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1`,
    [projectId, d.forge, d.id, d.bodySha256, pipelineId],
  );
  return rows.length > 0;
}
