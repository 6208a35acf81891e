import { APIRequestContext, request } from "@playwright/test";
import { writeFileSync } from "node:fs";
import { ADMIN, askfirst } from "./helpers";

export const BASE = `http://127.0.0.1:${process.env.ASKFIRST_E2E_PORT ?? 3199}`;

/** Runs a CLI command as `user`, who proves it with their password (on standard input). */
export function asPerson(args: string[], password = E2E_PASSWORD): string {
  return askfirst(args, `${password}\n`);
}

/** Creates an agent with the CLI; returns its API key. */
export function createAgent(name: string): string {
  return JSON.parse(askfirst(["agent", "create", name, "--json"])).key;
}

/** The password `createUser` gives people unless told otherwise. */
export const E2E_PASSWORD = "e2e password 1";

/** Creates a person with the CLI. */
export function createUser(name: string, role: string, password = E2E_PASSWORD) {
  askfirst(["user", "add", name, "--role", role, "--password-stdin"], `${password}\n`);
}

/** Managers who sign off test setup's policy changes (created on first use). */
const SIGNERS = ["e2e-signer-1", "e2e-signer-2"];

/**
 * Imports a policy (TOML) with the CLI. One that loosens a gate waits for two managers'
 * sign-off, which two setup managers give with the CLI. The running server picks the new
 * version up within a second.
 */
export async function importPolicy(toml: string) {
  ensureSigners();
  const file = `${process.env.ASKFIRST_E2E_DIR}/policy-${Date.now()}.toml`;
  writeFileSync(file, toml);
  // Authored by the first admin (a loosening change needs its author, who never reviews it).
  const saved = JSON.parse(
    askfirst(["policy", "import", file, "--json", "--user", ADMIN.username], `${ADMIN.password}\n`),
  );
  if (saved.pending) approveChange(saved.pending);
  await new Promise((r) => setTimeout(r, 1200));
}

/**
 * Creates the two setup managers unless they exist. Accounts created after a change was
 * asked for never sign it off, so this runs before any change it will approve.
 */
export function ensureSigners() {
  const users = askfirst(["user", "list"]);
  for (const name of SIGNERS) {
    if (!users.includes(name)) createUser(name, "manager");
  }
}

/** Two setup managers (made earlier with `ensureSigners`) approve pending change `id`. */
export function approveChange(id: number) {
  for (const name of SIGNERS) {
    askfirst(["policy", "review", String(id), "--user", name, "--approve"], `${E2E_PASSWORD}\n`);
  }
}

/** An agent speaking plain HTTP to the API. */
export class Agent {
  private constructor(private api: APIRequestContext) {}

  static async create(name: string): Promise<Agent> {
    const key = createAgent(name);
    const api = await request.newContext({
      baseURL: BASE,
      extraHTTPHeaders: { Authorization: `Bearer ${key}` },
    });
    return new Agent(api);
  }

  async propose(body: Record<string, unknown>): Promise<any> {
    const res = await this.api.post("/api/v1/calls", { data: { session: "e2e", args: {}, ...body } });
    if (res.status() !== 201) throw new Error(`propose: ${res.status()} ${await res.text()}`);
    return res.json();
  }

  async get(id: string, wait?: number): Promise<any> {
    const res = await this.api.get(`/api/v1/calls/${id}${wait ? `?wait=${wait}` : ""}`, { timeout: 70_000 });
    return res.json();
  }

  async cancel(id: string): Promise<any> {
    const res = await this.api.post(`/api/v1/calls/${id}/cancel`);
    return res.json();
  }

  async execute(id: string): Promise<{ status: number; body: any }> {
    const res = await this.api.post(`/api/v1/calls/${id}/execute`);
    return { status: res.status(), body: await res.json() };
  }
}
