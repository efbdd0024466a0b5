import { createHmac } from "node:crypto";
import { constantTimeEqual } from "../auth/token.js";

/**
 * The `auth` value that lets socket `socketId` subscribe to private `channel`, as Pusher defines
 * it: `<app_key>:<hex HMAC-SHA256 of "<socket_id>:<channel>" keyed by the app secret>`. The control
 * plane's `POST /api/pusher/auth` returns `{ auth }` with it to users who may see the channel.
 */
export function signChannelAuth(
  appKey: string,
  appSecret: string,
  socketId: string,
  channel: string,
): string {
  const hex = createHmac("sha256", appSecret).update(`${socketId}:${channel}`).digest("hex");
  return `${appKey}:${hex}`;
}

/** Checks an `auth` value in constant time. */
export function verifyChannelAuth(
  appKey: string,
  appSecret: string,
  socketId: string,
  channel: string,
  auth: string,
): boolean {
  const expected = Buffer.from(signChannelAuth(appKey, appSecret, socketId, channel));
  return constantTimeEqual(Buffer.from(auth), expected);
}
