import { expect, test } from "@playwright/test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { join, resolve } from "node:path";
import { asPerson, BASE, createAgent, createUser, importPolicy } from "./gate";
import { askfirst } from "./helpers";

// `askfirst mcp proxy` in front of the official filesystem server, and `askfirst mcp
// permission-prompt`, both driven by the official TypeScript SDK client: MCP software
// nobody here wrote. People decide with the CLI, as they would in the inbox.

const bin = process.env.ASKFIRST_BIN ?? resolve(__dirname, "../../target/debug/askfirst");
const filesystemServer = resolve(
  __dirname,
  "../node_modules/@modelcontextprotocol/server-filesystem/dist/index.js",
);
// Our own small upstream built with the official SDK: tools that report what it sees.
const testServer = resolve(__dirname, "../mcp-upstream/server.mjs");
const APPROVER = "mcp-approver";
const GATED = "[askfirst: a person may be asked to approve this call]";

type Text = { type: string; text?: string };
type ToolResult = {
  content?: Text[];
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  _meta?: Record<string, unknown>;
};

let key = "";
let dir = "";
/** Agents' names by key. */
const agentNames = new Map<string, string>();

function newAgent(prefix: string): string {
  const name = `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const agentKey = createAgent(name);
  agentNames.set(agentKey, name);
  return agentKey;
}

test.beforeAll(async () => {
  // The default policy, whatever earlier specs left in force.
  await importPolicy(readFileSync(resolve(__dirname, "../../src/policy/default.toml"), "utf8"));
  key = newAgent("mcp-agent");
  // Once: a worker started again after a failure runs this again.
  if (!askfirst(["user", "list"]).includes(APPROVER)) createUser(APPROVER, "approver");
});

test.beforeEach(() => {
  dir = mkdtempSync(join(process.env.ASKFIRST_E2E_DIR ?? "/tmp", "mcp-files-"));
});

/** A client connected through a fresh proxy in front of the filesystem server on `dir`. */
async function proxied(...flags: string[]): Promise<Client> {
  return connect([
    "mcp", "proxy", "--url", BASE, "--key-env", "MCP_E2E_KEY", "--name", "files", ...flags,
    "--", process.execPath, filesystemServer, dir,
  ]);
}

async function connect(args: string[], agentKey = key, env: Record<string, string> = {}): Promise<Client> {
  const transport = new StdioClientTransport({
    command: bin,
    args,
    env: { ...(process.env as Record<string, string>), MCP_E2E_KEY: agentKey, ...env },
    stderr: "inherit",
  });
  const client = new Client({ name: "askfirst-e2e", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

function text(result: ToolResult): string {
  return (result.content ?? []).map((c) => c.text ?? "").join("\n");
}

type View = {
  id: string;
  status: string;
  tool: string;
  args: Record<string, unknown>;
  outcome?: string;
  outcome_detail?: string;
};

/** The pending call of `tool` with `path`, once the proxy has proposed it. */
async function pendingCall(tool: string, path: string): Promise<View> {
  for (let i = 0; i < 100; i++) {
    const calls: View[] = JSON.parse(askfirst(["calls", "pending", "--json"]));
    const call = calls.find((c) => c.tool === tool && c.args.path === path);
    if (call) return call;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no pending ${tool} call for ${path}`);
}

/** How many calls of `tool` whose arguments pass `which` the agent with key `agentKey` proposed. */
function proposals(agentKey: string, tool: string, which: (args: Record<string, unknown>) => boolean): number {
  const agent = agentNames.get(agentKey)!;
  const lines = askfirst(["audit", "export", "--format", "jsonl", "--kind", "call.proposed", "--agent", agent])
    .split("\n")
    .filter((l) => l.trim() !== "");
  const ids = lines.map((l) => JSON.parse(l).call_id);
  return ids.map((id: string) => show(id)).filter((c) => c.tool === tool && which(c.args)).length;
}

function show(id: string): View {
  return JSON.parse(askfirst(["calls", "show", id, "--json"]));
}

test("tools pass through, gated ones marked; a read runs at once", async () => {
  const client = await proxied();
  try {
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect(byName.has("read_text_file") && byName.has("write_file")).toBe(true);
    // Names are the upstream's; descriptions keep the upstream's text.
    expect(byName.get("write_file")!.description!.startsWith(`${GATED} `)).toBe(true);
    expect(byName.get("read_text_file")!.description).not.toContain("[askfirst");
    expect(byName.get("write_file")!.annotations?.destructiveHint).toBe(true);

    writeFileSync(join(dir, "notes.txt"), "hello from disk\n");
    const read = (await client.callTool({
      name: "read_text_file",
      arguments: { path: join(dir, "notes.txt") },
    })) as ToolResult;
    expect(read.isError ?? false).toBe(false);
    expect(text(read)).toContain("hello from disk");
  } finally {
    await client.close();
  }
});

test("a write waits, reports progress, and runs once with the approver's edit", async () => {
  const client = await proxied();
  try {
    const path = join(dir, "out.txt");
    const progress: string[] = [];
    const call = client.callTool(
      { name: "write_file", arguments: { path, content: "the agent's draft" } },
      undefined,
      { timeout: 60_000, onprogress: (p) => progress.push(p.message ?? "") },
    );
    const pending = await pendingCall("files.write_file", path);
    expect(pending.args.content).toBe("the agent's draft");
    // Nothing runs while it waits; progress arrives every few seconds.
    await expect.poll(() => progress.length, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(progress[0]).toContain(`${BASE}/calls/${pending.id}`);
    expect(existsSync(path)).toBe(false);

    asPerson([
      "calls", "approve", pending.id, "--user", APPROVER,
      "--args", JSON.stringify({ path, content: "the approver's version" }),
    ]);
    const result = (await call) as ToolResult;
    expect(result.isError ?? false).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("the approver's version");
    // Recorded executed once the upstream returned its result (reported just after).
    await expect.poll(() => show(pending.id).status).toBe("executed");
    expect(show(pending.id).outcome).toBe("succeeded");
  } finally {
    await client.close();
  }
});

test("large arguments: refused naming the setting, then a 200 KiB write runs under a 1 MiB setting", async () => {
  const client = await proxied();
  const path = join(dir, "big.txt");
  const content = "x".repeat(200 * 1024);
  try {
    askfirst(["limits", "set", "--max-args-kib", "64"]);
    const refused = (await client.callTool({ name: "write_file", arguments: { path, content } })) as ToolResult;
    expect(refused.isError).toBe(true);
    expect(text(refused)).toContain("larger than the 64 KiB allowed");
    expect(text(refused)).toContain("--max-args-kib");

    askfirst(["limits", "set", "--max-args-kib", "1024"]);
    const call = client.callTool({ name: "write_file", arguments: { path, content } }, undefined, { timeout: 60_000 });
    const pending = await pendingCall("files.write_file", path);
    asPerson(["calls", "approve", pending.id, "--user", APPROVER]);
    const result = (await call) as ToolResult;
    expect(result.isError ?? false).toBe(false);
    expect(readFileSync(path, "utf8")).toBe(content);
  } finally {
    askfirst(["limits", "set", "--max-args-kib", "64"]);
    await client.close();
  }
});

test("a denial returns the feedback and writes nothing", async () => {
  const client = await proxied();
  try {
    const path = join(dir, "denied.txt");
    const call = client.callTool(
      { name: "write_file", arguments: { path, content: "x" } },
      undefined,
      { timeout: 60_000 },
    );
    const pending = await pendingCall("files.write_file", path);
    asPerson([
      "calls", "deny", pending.id, "--user", APPROVER, "--feedback", "write to /tmp/scratch instead",
      "--do-not-retry",
    ]);
    const result = (await call) as ToolResult;
    expect(result.isError).toBe(true);
    // Who denied, their words, and whether to ask again: in words and as structured content.
    expect(text(result)).toBe(
      `askfirst: ${APPROVER} (a person) denied this call: write to /tmp/scratch instead. Do not retry this call.`,
    );
    const refusal = {
      outcome: "denied", by: "person", person: APPROVER, feedback: "write to /tmp/scratch instead",
      retry: false, call_id: pending.id,
    };
    expect(result._meta?.askfirst).toEqual(refusal);
    // The filesystem server's tools declare an output schema, which this would not fit.
    expect(result.structuredContent).toBeUndefined();
    expect(existsSync(path)).toBe(false);
  } finally {
    await client.close();
  }
});

test("after the client's patience runs out, a retry — even from a new proxy — finds the same call", async () => {
  const path = join(dir, "later.txt");
  const args = { path, content: "worth the wait" };
  const client = await proxied("--max-wait", "2s");
  let pending: View;
  try {
    const first = (await client.callTool({ name: "write_file", arguments: args })) as ToolResult;
    expect(first.isError).toBe(true);
    pending = await pendingCall("files.write_file", path);
    expect(text(first)).toContain(pending.id);
    expect(text(first)).toContain(`${BASE}/calls/${pending.id}`);
    // Asked again while still pending: the same call, not a second one.
    const again = (await client.callTool({ name: "write_file", arguments: { content: "worth the wait", path } })) as ToolResult;
    expect(text(again)).toContain(pending.id);
    expect(existsSync(path)).toBe(false);
  } finally {
    await client.close();
  }

  asPerson(["calls", "approve", pending.id, "--user", APPROVER]);
  // A new proxy run (a new askfirst session): the same call, now approved, runs without a
  // second ask.
  const later = await proxied("--max-wait", "2s");
  try {
    const retry = (await later.callTool({ name: "write_file", arguments: args })) as ToolResult;
    expect(retry.isError ?? false).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("worth the wait");
    await expect.poll(() => show(pending.id).status).toBe("executed");
    const same = JSON.parse(askfirst(["calls", "pending", "--json"])) as View[];
    expect(same.filter((c) => c.args.path === path)).toHaveLength(0);
    expect(proposals(key, "files.write_file", (a) => a.path === path)).toBe(1);
  } finally {
    await later.close();
  }
});

test("cancelling the request cancels the pending call", async () => {
  const client = await proxied();
  try {
    const path = join(dir, "cancelled.txt");
    const abort = new AbortController();
    const call = client.callTool(
      { name: "write_file", arguments: { path, content: "never" } },
      undefined,
      { signal: abort.signal, timeout: 60_000 },
    );
    const pending = await pendingCall("files.write_file", path);
    abort.abort("the user changed their mind");
    await expect(call).rejects.toThrow();
    await expect.poll(() => show(pending.id).status, { timeout: 10_000 }).toBe("cancelled");
    expect(existsSync(path)).toBe(false);
  } finally {
    await client.close();
  }
});

test("the permission-prompt tool answers Claude Code's shapes", async () => {
  const client = await connect([
    "mcp", "permission-prompt", "--url", BASE, "--key-env", "MCP_E2E_KEY", "--session", `claude-${Date.now()}`,
  ]);
  try {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(["approval_prompt"]);

    const ask = (input: Record<string, unknown>, id: string) =>
      client.callTool(
        { name: "approval_prompt", arguments: { tool_name: "Write", input, tool_use_id: id } },
        undefined,
        { timeout: 60_000 },
      ) as Promise<ToolResult>;
    const answer = (r: ToolResult) => {
      expect(r.content).toHaveLength(1);
      expect(r.content![0].type).toBe("text");
      return JSON.parse(r.content![0].text!);
    };

    // Allow, with the approver's edited input.
    const file = join(dir, "claude.txt");
    const allowed = ask({ file_path: file, content: "draft" }, "toolu_01");
    const first = await pendingByTool("Write", file);
    asPerson([
      "calls", "approve", first, "--user", APPROVER,
      "--args", JSON.stringify({ file_path: file, content: "edited" }),
    ]);
    const allowedResult = await allowed;
    expect(answer(allowedResult)).toEqual({
      behavior: "allow",
      updatedInput: { file_path: file, content: "edited" },
    });
    // Beside the answer, in `_meta`: the receipt for the edited input, as any JWT library
    // checks it.
    const token = allowedResult._meta?.["askfirst/receipt"] as string;
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${BASE}/.well-known/jwks.json`)), {
      algorithms: ["EdDSA"],
      typ: "askfirst-receipt+jwt",
      audience: "Write",
    });
    const edited = canonicalize({ file_path: file, content: "edited" })!;
    expect(payload.args_sha256).toBe(createHash("sha256").update(edited, "utf8").digest("hex"));
    expect(payload.sub).toBe(first);

    // Deny, with the approver's message.
    const other = join(dir, "other.txt");
    const denied = client.callTool(
      { name: "approval_prompt", arguments: { tool_name: "Edit", input: { file_path: other, content: "x" }, tool_use_id: "toolu_02" } },
      undefined,
      { timeout: 60_000 },
    ) as Promise<ToolResult>;
    const second = await pendingByTool("Edit", other);
    asPerson(["calls", "deny", second, "--user", APPROVER, "--feedback", "not that file"]);
    expect(answer(await denied)).toEqual({
      behavior: "deny",
      message: `askfirst: ${APPROVER} (a person) denied this call: not that file. You may try again with a changed call.`,
    });
  } finally {
    await client.close();
  }
});

/** The id of the pending call of `tool` whose input names `file`. */
async function pendingByTool(tool: string, file: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const calls: View[] = JSON.parse(askfirst(["calls", "pending", "--json"]));
    const call = calls.find((c) => c.tool === tool && c.args.file_path === file);
    if (call) return call.id;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no pending ${tool} call for ${file}`);
}

// The gateway under policies of its own; the default policy is put back afterwards.
test.describe("the gateway holds", () => {
  const POLICY = `
default_effect = "allow"

[[rules]]
name = "deny-secrets"
[rules.match]
tool = "read_secret"
[rules.effect]
kind = "deny"
message = "Secrets are out of scope for agents."

[[rules]]
name = "gate-quick-notes"
[rules.match]
tool = "quick_note"
[rules.effect]
kind = "gate"
approvals_required = 1
approver_role = "approver"
deadline_secs = 3
approval_ttl_secs = 600

[[rules]]
name = "gate-guarded-notes"
[rules.match]
tool = "guarded_note"
[rules.effect]
kind = "gate"
approvals_required = 1
approver_role = "approver"
deadline_secs = 3600
approval_ttl_secs = 600

[[rules]]
name = "gate-notes"
[rules.match]
tool = "write_note"
[rules.effect]
kind = "gate"
approvals_required = 1
approver_role = "approver"
deadline_secs = 3600
approval_ttl_secs = 600
`;

  test.beforeAll(async () => {
    await importPolicy(POLICY);
  });

  test.afterAll(async () => {
    await importPolicy(readFileSync(resolve(__dirname, "../../src/policy/default.toml"), "utf8"));
  });

  /** A client through a fresh proxy named `up` in front of the test server. */
  async function upstream(agentKey: string, flags: string[] = [], env: Record<string, string> = {}) {
    return connect(
      ["mcp", "proxy", "--url", BASE, "--key-env", "MCP_E2E_KEY", "--name", "up", ...flags, "--", process.execPath, testServer],
      agentKey,
      env,
    );
  }

  test("the upstream never sees the agent's key; --upstream-env passes variables on", async () => {
    const agentKey = newAgent("mcp-env");
    const client = await upstream(
      agentKey,
      ["--upstream-env", "GIVEN=given-value", "--upstream-env", "PASSED", "--upstream-env", "ASKFIRST_EXTRA"],
      { ASKFIRST_KEY: agentKey, ASKFIRST_OTHER: agentKey, PASSED: "passed-value", ASKFIRST_EXTRA: "extra-value" },
    );
    try {
      const ask = async (name: string, args: Record<string, unknown>) =>
        text((await client.callTool({ name, arguments: args })) as ToolResult);
      // Not in `--key-env`'s variable, not in ASKFIRST_KEY, not in any other.
      expect(await ask("env_contains", { secret: agentKey })).toBe("no");
      expect(await ask("env_value", { name: "MCP_E2E_KEY" })).toBe("");
      expect(await ask("env_value", { name: "ASKFIRST_OTHER" })).toBe("");
      // What the admin passes on explicitly arrives; the rest of the environment too.
      expect(await ask("env_value", { name: "GIVEN" })).toBe("given-value");
      expect(await ask("env_value", { name: "PASSED" })).toBe("passed-value");
      expect(await ask("env_value", { name: "ASKFIRST_EXTRA" })).toBe("extra-value");
      expect(await ask("env_value", { name: "PATH" })).toBe(process.env.PATH);
    } finally {
      await client.close();
    }
  });

  test("the upstream verifies askfirst's receipt: an edited approval, and allowed calls once the agent gets receipts always", async () => {
    const agentKey = newAgent("mcp-receipts");
    const client = await upstream(agentKey, [
      "--upstream-env", `ASKFIRST_JWKS_URL=${BASE}/.well-known/jwks.json`,
      "--upstream-env", "ASKFIRST_PROXY_NAME=up",
    ]);
    try {
      // Allowed, and the agent asks for no receipts: the upstream refuses to run it.
      const read = async () =>
        (await client.callTool({ name: "guarded_read", arguments: { path: "/srv/notes" } })) as ToolResult;
      const unsigned = await read();
      expect(unsigned.isError).toBe(true);
      expect(text(unsigned)).toBe("refused: no askfirst receipt");

      // An admin sets the agent to get receipts always: allowed calls now carry one.
      askfirst(["agent", "receipts", agentNames.get(agentKey)!, "always"]);
      await expect
        .poll(async () => text(await read()), { timeout: 10_000 })
        .toMatch(/^verified \S+ by policy$/);

      // Gated: the approver edits the note; the receipt binds the edit, which is what
      // the upstream receives and checks.
      const call = client.callTool(
        { name: "guarded_note", arguments: { text: "the agent's draft" } },
        undefined,
        { timeout: 60_000, onprogress: () => {} },
      );
      let pending: View | undefined;
      for (let i = 0; i < 100 && !pending; i++) {
        const calls: View[] = JSON.parse(askfirst(["calls", "pending", "--json"]));
        pending = calls.find((c) => c.tool === "up.guarded_note" && c.args.text === "the agent's draft");
        if (!pending) await new Promise((r) => setTimeout(r, 200));
      }
      expect(pending).toBeDefined();
      asPerson([
        "calls", "approve", pending!.id, "--user", APPROVER,
        "--args", JSON.stringify({ text: "the approver's version" }),
      ]);
      const result = (await call) as ToolResult;
      expect(text(result)).toMatch(new RegExp(`^verified ${pending!.id}\\.\\d+ by people ${APPROVER}$`));
      expect(result.isError ?? false).toBe(false);
      await expect.poll(() => show(pending!.id).status).toBe("executed");
      // askfirst recorded the receipt's jti as used by the execution.
      const jti = text(result).split(" ")[1];
      const started = askfirst(["audit", "export", "--format", "jsonl", "--kind", "call.", "--agent", agentNames.get(agentKey)!])
        .split("\n")
        .filter((l) => l.includes(pending!.id) && l.includes('"jti"'));
      expect(started).toHaveLength(1);
      expect(started[0]).toContain(jti);
    } finally {
      await client.close();
    }
  });

  test("a call that expires ends the tool call, proposed once", async () => {
    const agentKey = newAgent("mcp-expiry");
    const client = await upstream(agentKey, ["--max-wait", "10s"]);
    try {
      const started = Date.now();
      const result = (await client.callTool(
        { name: "quick_note", arguments: { text: "nobody will look" } },
        undefined,
        { timeout: 60_000, onprogress: () => {} },
      )) as ToolResult;
      const took = Date.now() - started;
      expect(result.isError).toBe(true);
      expect(text(result)).toMatch(/nobody decided in time — the call expired at \d\d:\d\d:\d\d UTC; ask again if still needed/);
      const refusal = result.structuredContent?.askfirst as Record<string, unknown>;
      expect(refusal.by).toBe("deadline");
      expect(refusal.outcome).toBe("expired");
      expect(refusal.retry).toBe(true);
      // At the 3 s deadline, not at --max-wait and not after proposing again.
      expect(took).toBeLessThan(9_000);
      expect(proposals(agentKey, "up.quick_note", () => true)).toBe(1);
      expect(show(refusal.call_id as string).status).toBe("expired");
    } finally {
      await client.close();
    }
  });

  test("Claude Code's mcp__server__tool names meet the rules of the bare tool", async () => {
    const agentKey = newAgent("mcp-names");
    const prompt = await connect(
      ["mcp", "permission-prompt", "--url", BASE, "--key-env", "MCP_E2E_KEY"],
      agentKey,
    );
    try {
      const r = (await prompt.callTool({
        name: "approval_prompt",
        arguments: { tool_name: "mcp__vault__read_secret", input: { name: "db" }, tool_use_id: "toolu_09" },
      })) as ToolResult;
      const answer = JSON.parse(text(r));
      expect(answer.behavior).toBe("deny");
      expect(answer.message).toBe(
        "askfirst: policy rule `deny-secrets` denied this call: Secrets are out of scope for agents. Do not retry this call.",
      );
    } finally {
      await prompt.close();
    }
    // The same call through the proxy: the same rule, the same answer.
    const client = await upstream(agentKey);
    try {
      const r = (await client.callTool({ name: "read_secret", arguments: { name: "db" } })) as ToolResult;
      expect(r.isError).toBe(true);
      expect(r.structuredContent).toEqual({
        askfirst: {
          outcome: "denied", by: "policy", rule: "deny-secrets", feedback: "Secrets are out of scope for agents.",
          retry: false, call_id: expect.any(String),
        },
      });
    } finally {
      await client.close();
    }
    // And the policy preview, by either name.
    const res = await fetch(`${BASE}/api/v1/policy/preview`, {
      method: "POST",
      headers: { Authorization: `Bearer ${agentKey}`, "Content-Type": "application/json" },
      body: JSON.stringify({ tools: [{ tool: "mcp__vault__read_secret" }, { tool: "vault.read_secret" }, { tool: "Bash" }] }),
    });
    const preview = await res.json();
    expect(preview.tools.map((t: { decision: string }) => t.decision)).toEqual(["deny", "deny", "allow"]);
  });

  test("the permission prompt's retry in a new run finds the earlier call", async () => {
    const agentKey = newAgent("mcp-prompt-runs");
    const file = join(dir, "runs.txt");
    const ask = async () => {
      // Each `claude -p` run starts its own permission-prompt server (a new session).
      const prompt = await connect(
        ["mcp", "permission-prompt", "--url", BASE, "--key-env", "MCP_E2E_KEY", "--max-wait", "1s"],
        agentKey,
      );
      try {
        const r = (await prompt.callTool({
          name: "approval_prompt",
          arguments: { tool_name: "mcp__up__write_note", input: { text: file }, tool_use_id: "toolu_10" },
        })) as ToolResult;
        return JSON.parse(text(r));
      } finally {
        await prompt.close();
      }
    };
    const first = await ask();
    expect(first.behavior).toBe("deny");
    const id = /call (\S+) is waiting/.exec(first.message)![1];
    expect(show(id).tool).toBe("up.write_note");
    const second = await ask();
    expect(second.message).toContain(id);
    asPerson(["calls", "approve", id, "--user", APPROVER]);
    expect(await ask()).toEqual({ behavior: "allow", updatedInput: { text: file } });
    expect(show(id).status).toBe("executed");
    expect(proposals(agentKey, "up.write_note", () => true)).toBe(1);
  });

  test("progress, cancellation, subscriptions and logging pass through", async () => {
    const agentKey = newAgent("mcp-pass");
    const client = await upstream(agentKey);
    try {
      // Only what the proxy forwards is advertised.
      const caps = client.getServerCapabilities()!;
      expect(Object.keys(caps).sort()).toEqual(["logging", "resources", "tools"]);
      expect(caps.resources?.subscribe).toBe(true);

      // The upstream's progress arrives under the client's own progress token.
      const steps: number[] = [];
      const counted = (await client.callTool({ name: "count", arguments: { n: 3 } }, undefined, {
        onprogress: (p) => steps.push(p.progress),
      })) as ToolResult;
      expect(text(counted)).toBe("counted to 3");
      expect(steps).toEqual([1, 2, 3]);

      // A cancellation reaches a tool running upstream.
      const marker = join(dir, "cancelled.marker");
      const abort = new AbortController();
      const sleeping = client.callTool({ name: "sleep", arguments: { ms: 30_000, marker } }, undefined, {
        signal: abort.signal,
        timeout: 60_000,
      });
      await new Promise((r) => setTimeout(r, 1_500));
      abort.abort("changed my mind");
      await expect(sleeping).rejects.toThrow();
      await expect.poll(() => existsSync(marker), { timeout: 10_000 }).toBe(true);

      // A tool's own error is a result: the call ran, and the record says how.
      const failing = (await client.callTool({ name: "fail", arguments: { message: "disk full" } })) as ToolResult;
      expect(failing.isError).toBe(true);
      expect(text(failing)).toBe("disk full");
      const agent = agentNames.get(agentKey)!;
      const failId = askfirst(["audit", "export", "--format", "jsonl", "--kind", "call.proposed", "--agent", agent])
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l).call_id as string)
        .find((id) => show(id).tool === "up.fail")!;
      await expect.poll(() => show(failId).outcome).toBe("tool_error");
      expect(show(failId).status).toBe("executed");
      expect(show(failId).outcome_detail).toBe("disk full");

      // Subscriptions: subscribe, an update, unsubscribe, no more updates.
      const updates: string[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
        updates.push(n.params.uri);
      });
      await client.subscribeResource({ uri: "test://note" });
      await client.callTool({ name: "touch", arguments: { uri: "test://note" } });
      await expect.poll(() => updates).toEqual(["test://note"]);
      await client.unsubscribeResource({ uri: "test://note" });
      await client.callTool({ name: "touch", arguments: { uri: "test://note" } });
      await new Promise((r) => setTimeout(r, 500));
      expect(updates).toEqual(["test://note"]);

      // Logging: the level reaches the upstream, its messages reach the client.
      const logs: unknown[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        logs.push(n.params.data);
      });
      await client.callTool({ name: "log", arguments: { message: "unheard" } });
      await client.setLoggingLevel("info");
      await client.callTool({ name: "log", arguments: { message: "heard" } });
      await expect.poll(() => logs).toEqual(["heard"]);
    } finally {
      await client.close();
    }
  });

  test("a crashed upstream: nothing is proposed while it is down, it is started again, and one that keeps crashing ends the proxy with its last words", async () => {
    test.setTimeout(120_000);
    const agentKey = newAgent("mcp-crash");
    const transport = new StdioClientTransport({
      command: bin,
      args: ["mcp", "proxy", "--url", BASE, "--key-env", "MCP_E2E_KEY", "--name", "up", "--", process.execPath, testServer],
      env: { ...(process.env as Record<string, string>), MCP_E2E_KEY: agentKey },
      stderr: "pipe",
    });
    let stderr = "";
    transport.stderr!.on("data", (d) => (stderr += String(d)));
    const client = new Client({ name: "askfirst-e2e", version: "1.0.0" });
    await client.connect(transport);
    let closed = false;
    client.onclose = () => (closed = true);
    const probe = async () => {
      try {
        return text((await client.callTool({ name: "env_contains", arguments: { secret: "zzz" } })) as ToolResult);
      } catch {
        return "closed";
      }
    };
    try {
      const crashed = (await client.callTool({ name: "crash", arguments: {} })) as ToolResult;
      expect(crashed.isError).toBe(true);
      expect(text(crashed)).toContain("the upstream MCP server failed while running the call");
      // The record says it failed, not that it ran.
      const agent = agentNames.get(agentKey)!;
      const crashId = askfirst(["audit", "export", "--format", "jsonl", "--kind", "call.proposed", "--agent", agent])
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l).call_id as string)
        .find((id) => show(id).tool === "up.crash")!;
      await expect.poll(() => show(crashId).status).toBe("failed");
      expect(show(crashId).outcome).toBe("failed");
      expect(show(crashId).outcome_detail).toContain("the upstream MCP server failed while running the call");
      // Down: an error at once, and nobody is asked.
      const down = (await client.callTool({ name: "write_note", arguments: { text: "while down" } })) as ToolResult;
      expect(down.isError).toBe(true);
      expect(text(down)).toContain("The call was not proposed and did not run.");
      expect(proposals(agentKey, "up.write_note", () => true)).toBe(0);
      // Started again.
      await expect.poll(probe, { timeout: 15_000 }).toBe("no");
      // It keeps crashing: five restarts within a minute, then the proxy gives up.
      for (let i = 0; i < 5; i++) {
        await expect.poll(probe, { timeout: 20_000 }).toBe("no");
        await client.callTool({ name: "crash", arguments: {} });
      }
      await expect.poll(() => closed, { timeout: 30_000 }).toBe(true);
      expect(stderr).toContain("giving up");
      expect(stderr).toContain("crash: goodbye");
    } finally {
      await client.close();
    }
  });
});
