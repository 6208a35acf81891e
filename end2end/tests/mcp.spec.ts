import { expect, test } from "@playwright/test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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
const APPROVER = "mcp-approver";
const GATED = "[askfirst: a person may be asked to approve this call]";

type Text = { type: string; text?: string };
type ToolResult = { content?: Text[]; isError?: boolean };

let key = "";
let dir = "";

test.beforeAll(async () => {
  // The default policy, whatever earlier specs left in force.
  await importPolicy(readFileSync(resolve(__dirname, "../../src/policy/default.toml"), "utf8"));
  key = createAgent(`mcp-agent-${Date.now()}`);
  createUser(APPROVER, "approver");
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

async function connect(args: string[]): Promise<Client> {
  const transport = new StdioClientTransport({
    command: bin,
    args,
    env: { ...(process.env as Record<string, string>), MCP_E2E_KEY: key },
    stderr: "inherit",
  });
  const client = new Client({ name: "askfirst-e2e", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

function text(result: ToolResult): string {
  return (result.content ?? []).map((c) => c.text ?? "").join("\n");
}

type View = { id: string; status: string; tool: string; args: Record<string, unknown> };

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
    expect(show(pending.id).status).toBe("executed");
  } finally {
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
    asPerson(["calls", "deny", pending.id, "--user", APPROVER, "--feedback", "write to /tmp/scratch instead"]);
    const result = (await call) as ToolResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toBe("write to /tmp/scratch instead");
    expect(existsSync(path)).toBe(false);
  } finally {
    await client.close();
  }
});

test("after the client's patience runs out, a retry runs once with one approval", async () => {
  const client = await proxied("--max-wait", "2s");
  try {
    const path = join(dir, "later.txt");
    const args = { path, content: "worth the wait" };
    const first = (await client.callTool({ name: "write_file", arguments: args })) as ToolResult;
    expect(first.isError).toBe(true);
    const pending = await pendingCall("files.write_file", path);
    expect(text(first)).toContain(pending.id);
    expect(text(first)).toContain(`${BASE}/calls/${pending.id}`);
    expect(existsSync(path)).toBe(false);

    asPerson(["calls", "approve", pending.id, "--user", APPROVER]);
    // The same call again: the same pending call, now approved, runs without a second ask.
    const retry = (await client.callTool({ name: "write_file", arguments: args })) as ToolResult;
    expect(retry.isError ?? false).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("worth the wait");
    expect(show(pending.id).status).toBe("executed");
    const same = JSON.parse(askfirst(["calls", "pending", "--json"])) as View[];
    expect(same.filter((c) => c.args.path === path)).toHaveLength(0);
  } finally {
    await client.close();
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
    expect(answer(await allowed)).toEqual({
      behavior: "allow",
      updatedInput: { file_path: file, content: "edited" },
    });

    // Deny, with the approver's message.
    const other = join(dir, "other.txt");
    const denied = client.callTool(
      { name: "approval_prompt", arguments: { tool_name: "Edit", input: { file_path: other, content: "x" }, tool_use_id: "toolu_02" } },
      undefined,
      { timeout: 60_000 },
    ) as Promise<ToolResult>;
    const second = await pendingByTool("Edit", other);
    asPerson(["calls", "deny", second, "--user", APPROVER, "--feedback", "not that file"]);
    expect(answer(await denied)).toEqual({ behavior: "deny", message: "not that file" });
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
