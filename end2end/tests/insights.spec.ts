import { expect, test } from "@playwright/test";
import { ADMIN, askfirst, hydrated, signIn } from "./helpers";
import { Agent, asPerson, ensureSigners } from "./gate";

// Insights over the calls this test makes (the inbox tests' policy gates `notify`).
test("insights show the seeded numbers; accepting an ungate suggestion leads to the review page", async ({ page }) => {
  // Ninety-one decisions from the command line, each its own process that proves who it
  // acts as and waits for the server to follow.
  test.setTimeout(120_000);
  ensureSigners();
  const agent = await Agent.create("insight-bot");
  for (let i = 0; i < 50; i++) {
    const call = await agent.propose({ tool: "notify", args: { channel: "ops", i } });
    expect(call.status).toBe("pending");
    asPerson(["calls", "approve", call.id, "--user", "ann"]);
  }
  const denied = await agent.propose({ tool: "notify", args: { channel: "all" } });
  asPerson(["calls", "deny", denied.id, "--user", "ann", "--feedback", "not to everyone"]);
  const more = [];
  for (let i = 0; i < 20; i++) {
    const call = await agent.propose({ tool: "notify", args: { channel: "ops", n: i } });
    asPerson(["calls", "approve", call.id, "--user", "ann"]);
    more.push(call.id);
  }

  await signIn(page, ADMIN.username, ADMIN.password);
  const byAgent = page.locator('tr[data-row="insight-bot"]');
  // proposed, allowed, denied by policy, asked, approved, denied by people
  const cells = byAgent.locator("td");
  // The server rolls the audit log up within about a second.
  await expect(async () => {
    await page.goto("/insights?period=24h");
    await expect(cells.nth(4)).toHaveText("70", { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await hydrated(page);
  await expect(cells.nth(0)).toHaveText("71");
  await expect(cells.nth(3)).toHaveText("71");
  await expect(cells.nth(4)).toHaveText("70");
  await expect(cells.nth(5)).toHaveText("1");
  await expect(page.locator("figure.chart svg")).toBeVisible();
  await expect(page.getByRole("table", { name: "The chart's numbers" })).toBeVisible();

  const suggestion = page.getByRole("article", { name: "Ungate notify" });
  await expect(suggestion).toContainText(/approved \d+ of \d+ decisions/);
  await suggestion.getByRole("button", { name: "Prepare an allow rule for sign-off" }).click();
  const sent = page.getByRole("status").filter({ hasText: "Sent for managers' sign-off" });
  await expect(sent).toBeVisible();
  const change = Number((await sent.textContent())!.match(/change #(\d+)/)![1]);
  await sent.getByRole("link", { name: "Open the review page" }).click();
  await expect(page).toHaveURL(/\/reviews/);
  await expect(page.locator("main")).toContainText(`#${change}`);
  // Not in force until managers sign it off.
  expect((await agent.propose({ tool: "notify", args: { channel: "ops" } })).status).toBe("pending");
  asPerson(["policy", "withdraw", String(change), "--user", ADMIN.username], ADMIN.password);

  // The rubber-stamp watch lists the approver.
  await page.goto("/insights?period=24h");
  await expect(page.locator('tr[data-approver="ann"]')).toBeVisible();
});

test("a custom period with a bad date gets a clear error", async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  const res = await page.goto("/insights?period=custom&from=2026-13-01&to=2026-11-30");
  expect(res!.status()).toBe(400);
  await expect(page.locator("main")).toContainText("must be a date like");
});
