import { expect, test } from "@playwright/test";
import { createServer, IncomingMessage } from "node:http";
import { AddressInfo } from "node:net";
import { hydrated, signIn } from "./helpers";
import { Agent, createUser } from "./gate";

// Notifications: an admin allows a Slack-shaped receiver on 127.0.0.1 (started here), adds
// a Slack channel pointing at it and a route, and a gated call arrives there as Block Kit.
// The inbox is installable: the manifest is served and the service worker registers.
test.describe.configure({ mode: "serial" });

const PASSWORD = "notify password 1";

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    req.on("data", (chunk) => (data += chunk));
    req.on("end", () => resolve(data));
  });
}

test("an admin routes gated calls to a Slack channel", async ({ page }) => {
  const received: any[] = [];
  const server = createServer(async (req, res) => {
    received.push(JSON.parse(await body(req)));
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const suffix = Date.now().toString(36);
    createUser(`nt-admin-${suffix}`, "admin", PASSWORD);
    await signIn(page, `nt-admin-${suffix}`, PASSWORD);
    await hydrated(page);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Notifications" }).click();
    await expect(page).toHaveURL(/\/notifications$/);
    await expect(page.getByRole("heading", { name: "Notifications", level: 1 })).toBeVisible();

    // The receiver listens inside the network: allow it first.
    await page.getByLabel(/Allowed destinations/).fill(origin);
    await page.getByRole("button", { name: "Save settings" }).click();
    await expect(page.getByLabel(/Allowed destinations/)).toHaveValue(origin);

    const name = `slack-${suffix}`;
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("Kind").selectOption("slack");
    await page.getByLabel(/^URL/).fill(`${origin}/services/T0/B0/e2esecretsecret9876`);
    await page.getByRole("button", { name: "Add channel" }).click();
    await expect(page.getByRole("status")).toContainText("Channel added.");
    const channel = page.locator(`article[data-channel="${name}"]`);
    await expect(channel.locator(".target")).toContainText("••••9876");
    await expect(channel).not.toContainText("e2esecretsecret");

    await channel.getByRole("button", { name: "Add route" }).click();
    await expect(channel.locator("ul.routes li")).toHaveCount(1);

    const agent = await Agent.create(`nt-bot-${suffix}`);
    const call = await agent.propose({ tool: "deploy", args: { service: "api", env: "production" } });
    expect(call.status).toBe("pending");
    await expect.poll(() => received.length, { timeout: 15_000 }).toBeGreaterThan(0);
    const message = received[0];
    expect(message.blocks[0].text.text).toBe(`Approval needed: nt-bot-${suffix} wants to Deploy`);
    expect(JSON.stringify(message.blocks)).toContain(`/calls/${call.id}`);
    expect(JSON.stringify(message)).not.toContain("production\"}"); // arguments stay out

    await page.reload();
    // The new-call message went out; its reminder waits for later.
    const rows = page.locator("table.deliveries tbody tr");
    await expect(rows.filter({ hasText: "delivered" })).toHaveCount(1);
    await expect(rows.filter({ hasText: "reminder" })).toContainText("waiting");
  } finally {
    server.close();
  }
});

test("the inbox is installable: manifest and service worker", async ({ page }) => {
  const manifest = await (await page.request.get("/manifest.webmanifest")).json();
  expect(manifest.start_url).toBe("/inbox");
  expect(manifest.icons.length).toBeGreaterThan(1);
  const icon = await page.request.get(manifest.icons[0].src);
  expect(icon.headers()["content-type"]).toBe("image/png");
  await page.goto("/login");
  await expect(page.locator('link[rel="manifest"]')).toHaveAttribute("href", "/manifest.webmanifest");
  const script = await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    return registration.active?.scriptURL ?? "";
  });
  expect(script).toMatch(/\/sw\.js$/);
});
