import { describe, expect, it } from "vitest";
import { LiveJobMessage, encodeJobMessage } from "../src/fanout/messages.js";

describe("job channel messages", () => {
  const entries = [
    { kind: "output", seq: 7, ts: 1, step: 0, stream: "out", data: 'a "quoted" line\n' },
    { kind: "output", seq: 8, ts: 2, step: 0, stream: "out", data: "b\n" },
  ];
  const json = entries.map((e) => JSON.stringify(e));

  it("routes on the header without parsing the entries, and parses them on demand", () => {
    const raw = encodeJobMessage('task "x"', 7, 8, json);
    expect(JSON.parse(raw)).toEqual({ task: 'task "x"', from: 7, to: 8, entries });
    const m = LiveJobMessage.read(raw)!;
    expect([m.task, m.from, m.to]).toEqual(['task "x"', 7, 8]);
    expect(m.entries).toEqual(entries);
  });

  it("reads a message without the header (an older instance), including a dropped range", () => {
    const dropped = { kind: "dropped", seq: 9, toSeq: 20, ts: 3, textBytes: 5 };
    const raw = JSON.stringify({ task: "t", entries: [...entries, dropped] });
    const m = LiveJobMessage.read(raw)!;
    expect([m.task, m.from, m.to]).toEqual(["t", 7, 20]);
    expect(LiveJobMessage.read(JSON.stringify({ task: "t", entries: [] }))).toBeNull();
    expect(() => LiveJobMessage.read("{not json")).toThrow();
  });
});
