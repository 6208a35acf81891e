// A small MCP server built with the official TypeScript SDK, the upstream of the MCP
// gateway's tests (end2end/tests/mcp.spec.ts). Its tools report what an upstream sees:
//
// - `env_contains {secret}`: "yes" if any environment value contains `secret`, else "no";
// - `env_value {name}`: the value of one environment variable ("" when unset);
// - `write_note {text}`, `quick_note {text}`: echo the text (tests gate them by policy);
// - `read_secret {name}`: a stand-in for a tool policy refuses;
// - `sleep {ms, marker}`: waits, then answers "slept"; a cancellation ends it early and
//   writes "cancelled" to the file `marker`;
// - `count {n}`: sends `n` progress notifications under the request's progress token;
// - `log {message}`: sends a log message at level "info" (seen only at that level or below);
// - `touch {uri}`: sends resources/updated for `uri` if a client subscribed to it;
// - `crash`: exits the process at once;
// - `fail {message}`: answers with a tool error (`isError`) saying `message`.
// - `guarded_note {text}`, `guarded_read {path}`: run only with a valid askfirst receipt in
//   the request's `_meta["askfirst/receipt"]`, checked as a tool server should — with
//   `jose` against the JWKS at $ASKFIRST_JWKS_URL (EdDSA, the receipt type, `aud` the tool
//   as proposed through the proxy, $ASKFIRST_PROXY_NAME.tool, not expired) and
//   `args_sha256` against the RFC 8785 form (`canonicalize`) of the arguments received;
//   each receipt once. They answer "verified <jti> by <decision.by> [approvers]" or a
//   tool error "refused: …".
//
// Resources: `test://note` (text), with subscriptions.
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import {
  CallToolRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { createRemoteJWKSet, jwtVerify } from "jose";
import canonicalize from "canonicalize";

const object = (props) => ({ type: "object", properties: props });
const str = { type: "string" };
const tools = [
  { name: "env_contains", description: "Whether any environment value contains `secret`", inputSchema: object({ secret: str }), annotations: { readOnlyHint: true } },
  { name: "env_value", description: "One environment variable's value", inputSchema: object({ name: str }), annotations: { readOnlyHint: true } },
  { name: "write_note", description: "Write a note", inputSchema: object({ text: str }) },
  { name: "quick_note", description: "Write a note that must be approved quickly", inputSchema: object({ text: str }) },
  { name: "read_secret", description: "Read a secret", inputSchema: object({ name: str }) },
  { name: "sleep", description: "Wait `ms` milliseconds", inputSchema: object({ ms: { type: "number" }, marker: str }) },
  { name: "count", description: "Report `n` steps of progress", inputSchema: object({ n: { type: "number" } }) },
  { name: "log", description: "Send a log message", inputSchema: object({ message: str }) },
  { name: "touch", description: "Say a resource changed", inputSchema: object({ uri: str }) },
  { name: "crash", description: "Exit the process", inputSchema: object({}) },
  { name: "fail", description: "Answer with a tool error", inputSchema: object({ message: str }), annotations: { readOnlyHint: true } },
  { name: "guarded_note", description: "Write a note; needs an askfirst receipt", inputSchema: object({ text: str }) },
  { name: "guarded_read", description: "Read a file; needs an askfirst receipt", inputSchema: object({ path: str }), annotations: { readOnlyHint: true } },
];

const jwks = process.env.ASKFIRST_JWKS_URL ? createRemoteJWKSet(new URL(process.env.ASKFIRST_JWKS_URL)) : null;
const spent = new Set();

/** Checks the call's receipt; throws what is wrong. */
async function checkReceipt(request, args) {
  const token = request.params._meta?.["askfirst/receipt"];
  if (typeof token !== "string") throw new Error("no askfirst receipt");
  if (!jwks) throw new Error("ASKFIRST_JWKS_URL is not set");
  const tool = `${process.env.ASKFIRST_PROXY_NAME}.${request.params.name}`;
  const { payload } = await jwtVerify(token, jwks, {
    algorithms: ["EdDSA"],
    typ: "askfirst-receipt+jwt",
    audience: tool,
    clockTolerance: 30,
    requiredClaims: ["exp", "nbf", "jti", "sub"],
  });
  const hash = createHash("sha256").update(canonicalize(args), "utf8").digest("hex");
  if (payload.args_sha256 !== hash) throw new Error("the arguments differ from the ones approved");
  if (spent.has(payload.jti)) throw new Error(`receipt ${payload.jti} was used already`);
  spent.add(payload.jti);
  return payload;
}

const server = new Server(
  { name: "askfirst-test-upstream", version: "1.0.0" },
  { capabilities: { tools: {}, resources: { subscribe: true }, logging: {} } },
);
const subscribed = new Set();
const LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
let level = "warning";

server.setRequestHandler(ListResourcesRequestSchema, async () => ({
  resources: [{ uri: "test://note", name: "note", mimeType: "text/plain" }],
}));
server.setRequestHandler(ReadResourceRequestSchema, async (request) => ({
  contents: [{ uri: request.params.uri, mimeType: "text/plain", text: "a note" }],
}));
server.setRequestHandler(SubscribeRequestSchema, async (request) => {
  subscribed.add(request.params.uri);
  return {};
});
server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
  subscribed.delete(request.params.uri);
  return {};
});
server.setRequestHandler(SetLevelRequestSchema, async (request) => {
  level = request.params.level;
  return {};
});
const text = (t) => ({ content: [{ type: "text", text: t }] });

server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
  const args = request.params.arguments ?? {};
  switch (request.params.name) {
    case "env_contains": {
      const secret = String(args.secret ?? "");
      const found = secret !== "" && Object.values(process.env).some((v) => (v ?? "").includes(secret));
      return text(found ? "yes" : "no");
    }
    case "env_value":
      return text(process.env[String(args.name)] ?? "");
    case "write_note":
    case "quick_note":
    case "read_secret":
      return text(`${request.params.name}: ${JSON.stringify(args)}`);
    case "sleep":
      return await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(text("slept")), Number(args.ms ?? 0));
        extra.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          if (args.marker) writeFileSync(String(args.marker), "cancelled");
          resolve(text("cancelled"));
        });
      });
    case "count": {
      const token = request.params._meta?.progressToken;
      const n = Number(args.n ?? 0);
      for (let i = 1; i <= n && token !== undefined; i++) {
        await extra.sendNotification({
          method: "notifications/progress",
          params: { progressToken: token, progress: i, total: n, message: `step ${i}` },
        });
        await new Promise((r) => setTimeout(r, 50));
      }
      return text(`counted to ${n}`);
    }
    case "log":
      if (LEVELS.indexOf("info") >= LEVELS.indexOf(level)) {
        await server.sendLoggingMessage({ level: "info", logger: "test", data: String(args.message) });
      }
      return text("logged");
    case "touch":
      if (subscribed.has(String(args.uri))) {
        await server.sendResourceUpdated({ uri: String(args.uri) });
      }
      return text("touched");
    case "fail":
      return { content: [{ type: "text", text: String(args.message) }], isError: true };
    case "guarded_note":
    case "guarded_read":
      try {
        const receipt = await checkReceipt(request, args);
        const who = (receipt.decision.approvers ?? []).map((a) => a.username).join(",");
        return text(`verified ${receipt.jti} by ${receipt.decision.by}${who ? ` ${who}` : ""}`);
      } catch (e) {
        return { content: [{ type: "text", text: `refused: ${e.message}` }], isError: true };
      }
    case "crash":
      process.stderr.write("crash: goodbye\n", () => process.exit(3));
      return await new Promise(() => {});
    default:
      return { content: [{ type: "text", text: `no tool ${request.params.name}` }], isError: true };
  }
});

await server.connect(new StdioServerTransport());
