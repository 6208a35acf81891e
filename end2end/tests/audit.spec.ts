import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { hydrated, signIn } from "./helpers";
import { createAgent, createUser } from "./gate";

// The audit page: a manager filters the log down to one agent's creation, and exports the
// filtered events as CSV (a download) and JSON Lines. Makes its own events (an agent and
// people created with the CLI, actor `cli`), so it needs nothing other specs left.
test.describe.configure({ mode: "serial" });

const PASSWORD = "audit password 1";

test("a manager filters the audit log and exports what the filter shows", async ({ page }) => {
  const suffix = Date.now().toString(36);
  const agent = `audit-bot-${suffix}`;
  createUser(`au-manager-${suffix}`, "manager", PASSWORD);
  createAgent(agent);

  await signIn(page, `au-manager-${suffix}`, PASSWORD);
  await hydrated(page);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit" }).click();
  await expect(page).toHaveURL(/\/audit$/);
  await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
  await expect(page.locator(".chain-ok")).toContainText("verified up to event");
  await expect(page.locator(".audit-events tbody tr")).not.toHaveCount(0);

  // Filter: this agent's creation, by the CLI.
  const form = page.getByRole("form", { name: "Filter events" });
  await form.getByLabel("Kind").fill("agent.created");
  await form.getByLabel("Actor").fill("cli");
  await form.getByLabel("Agent").fill(agent);
  await form.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(new RegExp(`kind=agent\\.created.*agent=${agent}`));
  const rows = page.locator(".audit-events tbody tr");
  await expect(rows).toHaveCount(1);
  await expect(rows.first().locator(".kind")).toHaveText("agent.created");
  await expect(rows.first().locator(".actor")).toHaveText("cli");

  // A prefix finds it too; a kind that matches nothing says so.
  await form.getByLabel("Kind").fill("agent.");
  await form.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/kind=agent\.&/);
  await expect(rows).toHaveCount(1);
  await form.getByLabel("Kind").fill("agent.disabled");
  await form.getByRole("button", { name: "Filter" }).click();
  await expect(page.getByText("No events match: widen the time range or clear a filter.")).toBeVisible();
  await form.getByLabel("Kind").fill("agent.created");
  await form.getByRole("button", { name: "Filter" }).click();
  await expect(rows).toHaveCount(1);

  // The CSV export carries the page's filter and downloads the one event.
  const csvLink = page.getByRole("link", { name: "CSV", exact: true });
  await expect(csvLink).toHaveAttribute("href", new RegExp(`^/audit/export\\.csv\\?kind=agent\\.created&actor=cli&agent=${agent}$`));
  const [download] = await Promise.all([page.waitForEvent("download"), csvLink.click()]);
  expect(download.suggestedFilename()).toMatch(/^askfirst-audit-\d{8}T\d{6}Z\.csv$/);
  const csv = readFileSync(await download.path(), "utf8").trim().split("\n");
  expect(csv[0]).toBe("id,at,actor,kind,agent,call_id,from_status,to_status,detail,hash");
  expect(csv).toHaveLength(2);
  expect(csv[1]).toContain(`,cli,agent.created,${agent},`);

  // JSON Lines: the same event, its detail as JSON.
  const jsonlHref = await page.getByRole("link", { name: "JSON Lines" }).getAttribute("href");
  const res = await page.request.get(jsonlHref!);
  expect(res.status()).toBe(200);
  const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ kind: "agent.created", actor: "cli", agent });
  expect(typeof lines[0].detail).toBe("object");
});

test("a bad filter is explained, and viewers get no audit page", async ({ page, browser }) => {
  const suffix = Date.now().toString(36);
  createUser(`au-manager2-${suffix}`, "manager", PASSWORD);
  createUser(`au-viewer-${suffix}`, "viewer", PASSWORD);
  await signIn(page, `au-manager2-${suffix}`, PASSWORD);
  const bad = await page.goto("/audit?from=last+tuesday");
  expect(bad?.status()).toBe(400);
  await expect(page.getByText(/`from` must be a time/)).toBeVisible();

  const viewer = await (await browser.newContext()).newPage();
  await signIn(viewer, `au-viewer-${suffix}`, PASSWORD);
  await expect(viewer.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit" })).toHaveCount(0);
  const refused = await viewer.goto("/audit");
  expect(refused?.status()).toBe(403);
  const exported = await viewer.request.get("/audit/export.csv");
  expect(exported.status()).toBe(403);
});
