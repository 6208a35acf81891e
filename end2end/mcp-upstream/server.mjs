// A small MCP server built with the official TypeScript SDK, the upstream of the MCP
// gateway's tests (end2end/tests/mcp.spec.ts). Its tools report what an upstream sees:
//
// - `env_contains {secret}`: "yes" if any environment value contains `secret`, else "no";
// - `env_value {name}`: the value of one environment variable ("" when unset);
// - `write_note {text}`, `quick_note {text}`: echo the text (tests gate them by policy);
// - `read_secret {name}`: a stand-in for a tool policy refuses;
// - `sleep {ms}`: waits, then answers "slept"; a cancellation ends it early ("cancelled"
//   is written to stderr);
// - `crash`: exits the process at once.
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const object = (props) => ({ type: "object", properties: props });
const str = { type: "string" };
const tools = [
  { name: "env_contains", description: "Whether any environment value contains `secret`", inputSchema: object({ secret: str }), annotations: { readOnlyHint: true } },
  { name: "env_value", description: "One environment variable's value", inputSchema: object({ name: str }), annotations: { readOnlyHint: true } },
  { name: "write_note", description: "Write a note", inputSchema: object({ text: str }) },
  { name: "quick_note", description: "Write a note that must be approved quickly", inputSchema: object({ text: str }) },
  { name: "read_secret", description: "Read a secret", inputSchema: object({ name: str }) },
  { name: "sleep", description: "Wait `ms` milliseconds", inputSchema: object({ ms: { type: "number" } }) },
  { name: "crash", description: "Exit the process", inputSchema: object({}) },
];

const server = new Server({ name: "askfirst-test-upstream", version: "1.0.0" }, { capabilities: { tools: {} } });
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
          process.stderr.write("cancelled\n");
          resolve(text("cancelled"));
        });
      });
    case "crash":
      process.exit(3);
    default:
      return { content: [{ type: "text", text: `no tool ${request.params.name}` }], isError: true };
  }
});

await server.connect(new StdioServerTransport());
